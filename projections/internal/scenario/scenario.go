// Package scenario generates realistic integration-event histories (the
// order saga across catalog, ordering and payments) for tests and
// benchmarks, with the streams, revisions (with gaps) and times the
// contexts would publish.
package scenario

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/troupe-dev/troupe/shared/events"
)

// Msg is one published integration event and where it comes from.
type Msg struct {
	Event      events.Event
	Stream     string
	Revision   uint64
	OccurredAt time.Time
}

// Config shapes a history.
type Config struct {
	Orders    int
	Products  int // default 20
	Customers int // default 10
	Seed      uint64
	// Start is the first event's time; default 2026-01-01 UTC.
	Start time.Time
}

// SKU names product i.
func SKU(i int) string { return fmt.Sprintf("SKU-%03d", i) }

// OrderID names order i (UUID-shaped).
func OrderID(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }

// Customer names customer i.
func Customer(i int) string { return fmt.Sprintf("cust-%d", i) }

// History returns the events of cfg, in a plausible publication order
// (each stream's events in revision order). Every third order is cancelled
// for a failed payment, the rest are confirmed.
func History(cfg Config) []Msg {
	if cfg.Products == 0 {
		cfg.Products = 20
	}
	if cfg.Customers == 0 {
		cfg.Customers = 10
	}
	if cfg.Start.IsZero() {
		cfg.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 7))
	at := cfg.Start
	tick := func() time.Time { at = at.Add(time.Millisecond); return at }
	var out []Msg
	add := func(e events.Event, stream string, rev uint64) {
		out = append(out, Msg{Event: e, Stream: stream, Revision: rev, OccurredAt: tick()})
	}
	for p := 0; p < cfg.Products; p++ {
		s := "catalog.product-" + SKU(p)
		add(events.ProductListed{SKU: SKU(p), Name: fmt.Sprintf("Product %d", p), PriceCents: int64(100 + p*10), Currency: "EUR"}, s, 0)
		add(events.StockReceived{SKU: SKU(p), Quantity: 1_000_000}, s, 1)
	}
	walletRev := make([]uint64, cfg.Customers)
	balance := make([]int64, cfg.Customers)
	for i := 0; i < cfg.Orders; i++ {
		id, c := OrderID(i), i%cfg.Customers
		cust := Customer(c)
		nl := 1 + rng.IntN(3)
		var lines []events.PricedLine
		var plain []events.Line
		var total int64
		for l := 0; l < nl; l++ {
			p := (i + l*7) % cfg.Products
			q := 1 + rng.IntN(4)
			lines = append(lines, events.PricedLine{SKU: SKU(p), Quantity: q, UnitPriceCents: int64(100 + p*10)})
			plain = append(plain, events.Line{SKU: SKU(p), Quantity: q})
			total += int64(q) * int64(100+p*10)
		}
		os, rs, ps, ws := "ordering.order-"+id, "catalog.reservation-"+id, "payments.payment-"+id, "payments.wallet-"+cust
		add(events.OrderPlaced{OrderID: id, CustomerID: cust, Lines: lines, TotalCents: total, Currency: "EUR",
			PaymentMethod: events.PaymentMethodWallet, PlacedAt: at}, os, 0)
		add(events.StockReserved{OrderID: id, Lines: plain}, rs, 1) // rev 0 is private (the intent)
		if i%3 == 2 {
			add(events.PaymentFailed{OrderID: id, CustomerID: cust, Reason: events.ReasonInsufficientFunds}, ps, 1)
			add(events.OrderCancelled{OrderID: id, CustomerID: cust, Reason: events.ReasonPaymentFailed}, os, 2)
			add(events.StockReleased{OrderID: id, Lines: plain}, rs, 3)
			continue
		}
		balance[c] += total
		add(events.FundsDeposited{CustomerID: cust, AmountCents: total, BalanceCents: balance[c]}, ws, walletRev[c])
		walletRev[c]++
		balance[c] -= total
		add(events.WalletDebited{CustomerID: cust, OrderID: id, AmountCents: total, BalanceCents: balance[c]}, ws, walletRev[c])
		walletRev[c]++
		add(events.PaymentCaptured{OrderID: id, CustomerID: cust, PaymentID: "pay-" + id[24:], AmountCents: total,
			Method: events.PaymentMethodWallet}, ps, 1)
		add(events.OrderConfirmed{OrderID: id, CustomerID: cust, TotalCents: total}, os, 3)
		add(events.StockCommitted{OrderID: id, Lines: plain}, rs, 2)
	}
	return out
}

// Interleave returns msgs in a random order that keeps each stream's
// events in their order (as Kafka keeps a key's records) but mixes
// streams freely, as consumers of several topics and partitions see them.
func Interleave(msgs []Msg, seed uint64) []Msg {
	rng := rand.New(rand.NewPCG(seed, 11))
	byStream := map[string][]Msg{}
	var streams []string
	for _, m := range msgs {
		if _, ok := byStream[m.Stream]; !ok {
			streams = append(streams, m.Stream)
		}
		byStream[m.Stream] = append(byStream[m.Stream], m)
	}
	out := make([]Msg, 0, len(msgs))
	for len(streams) > 0 {
		i := rng.IntN(len(streams))
		s := streams[i]
		out = append(out, byStream[s][0])
		byStream[s] = byStream[s][1:]
		if len(byStream[s]) == 0 {
			streams[i] = streams[len(streams)-1]
			streams = streams[:len(streams)-1]
		}
	}
	return out
}
