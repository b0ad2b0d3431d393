package invariant_test

import (
	"testing"

	"github.com/troupe-dev/troupe/cmd/troupe/invariant"
	"github.com/troupe-dev/troupe/shared/events"
)

type history struct{ recs []invariant.Record }

func (h *history) add(stream string, e any) {
	h.recs = append(h.recs, invariant.Record{Stream: stream, Revision: uint64(len(h.recs)), Event: e})
}

func line(sku string, q int) []events.Line { return []events.Line{{SKU: sku, Quantity: q}} }

func placed(id, customer, sku string, q int, total int64) events.OrderPlaced {
	return events.OrderPlaced{OrderID: id, CustomerID: customer, Lines: []events.PricedLine{{SKU: sku, Quantity: q, UnitPriceCents: total / int64(q)}},
		TotalCents: total, Currency: "EUR", PaymentMethod: events.PaymentMethodWallet}
}

// healthy is a history that keeps every invariant: a confirmed order, an
// order cancelled after its capture (refunded), one cancelled out of stock.
func healthy() *history {
	h := &history{}
	h.add("catalog.product-SKU-1", events.StockReceived{SKU: "SKU-1", Quantity: 3})
	h.add("payments.wallet-c1", events.FundsDeposited{CustomerID: "c1", AmountCents: 1000, BalanceCents: 1000})
	// o1: confirmed.
	h.add("ordering.order-o1", placed("o1", "c1", "SKU-1", 2, 200))
	h.add("catalog.product-SKU-1", invariant.Hold{Kind: invariant.HoldReserved, SKU: "SKU-1", OrderID: "o1", Quantity: 2})
	h.add("catalog.reservation-o1", events.StockReserved{OrderID: "o1", Lines: line("SKU-1", 2)})
	h.add("payments.wallet-c1", events.WalletDebited{CustomerID: "c1", OrderID: "o1", AmountCents: 200, BalanceCents: 800})
	h.add("payments.payment-o1", events.PaymentCaptured{OrderID: "o1", CustomerID: "c1", AmountCents: 200})
	h.add("ordering.order-o1", events.OrderConfirmed{OrderID: "o1", CustomerID: "c1", TotalCents: 200})
	h.add("catalog.product-SKU-1", invariant.Hold{Kind: invariant.HoldCommitted, SKU: "SKU-1", OrderID: "o1", Quantity: 2})
	h.add("catalog.reservation-o1", events.StockCommitted{OrderID: "o1", Lines: line("SKU-1", 2)})
	// o2: captured, then cancelled by the customer: refunded and released.
	h.add("ordering.order-o2", placed("o2", "c1", "SKU-1", 1, 100))
	h.add("catalog.product-SKU-1", invariant.Hold{Kind: invariant.HoldReserved, SKU: "SKU-1", OrderID: "o2", Quantity: 1})
	h.add("catalog.reservation-o2", events.StockReserved{OrderID: "o2", Lines: line("SKU-1", 1)})
	h.add("payments.wallet-c1", events.WalletDebited{CustomerID: "c1", OrderID: "o2", AmountCents: 100, BalanceCents: 700})
	h.add("payments.payment-o2", events.PaymentCaptured{OrderID: "o2", CustomerID: "c1", AmountCents: 100})
	h.add("ordering.order-o2", events.OrderCancelled{OrderID: "o2", CustomerID: "c1", Reason: events.ReasonCustomerRequested})
	h.add("catalog.product-SKU-1", invariant.Hold{Kind: invariant.HoldReleased, SKU: "SKU-1", OrderID: "o2", Quantity: 1})
	h.add("catalog.reservation-o2", events.StockReleased{OrderID: "o2", Lines: line("SKU-1", 1)})
	h.add("payments.wallet-c1", events.WalletCredited{CustomerID: "c1", OrderID: "o2", AmountCents: 100, BalanceCents: 800})
	h.add("payments.payment-o2", events.PaymentRefunded{OrderID: "o2", CustomerID: "c1", AmountCents: 100})
	// o3: out of stock.
	h.add("ordering.order-o3", placed("o3", "c1", "SKU-1", 5, 500))
	h.add("catalog.reservation-o3", events.StockReservationFailed{OrderID: "o3", Reason: events.ReasonOutOfStock, SKU: "SKU-1"})
	h.add("ordering.order-o3", events.OrderCancelled{OrderID: "o3", CustomerID: "c1", Reason: events.ReasonOutOfStock})
	return h
}

var healthyStock = map[string]invariant.Stock{"SKU-1": {Received: 3, Available: 1, Reserved: 0, Committed: 2}}

func TestHealthyHistoryPasses(t *testing.T) {
	t.Parallel()
	rep := invariant.Check(healthy().recs, healthyStock)
	if !rep.OK() || rep.Orders != 3 || rep.Confirmed != 1 || rep.Cancelled != 2 || rep.SKUs != 1 || rep.Wallets != 1 {
		t.Fatalf("healthy history: %s", rep)
	}
}

// TestDoctoredHistories: each doctoring of the healthy history breaks one
// invariant, and the checker names it.
func TestDoctoredHistories(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		edit  func(h *history)
		stock map[string]invariant.Stock
		want  string
	}{
		{"order never settles", func(h *history) { h.add("ordering.order-o4", placed("o4", "c1", "SKU-1", 1, 100)) }, nil, invariant.NotTerminal},
		{"confirmed and cancelled", func(h *history) {
			h.add("ordering.order-o1", events.OrderCancelled{OrderID: "o1", Reason: events.ReasonTimeout})
		}, nil, invariant.BothTerminal},
		{"confirmed twice captured", func(h *history) {
			h.add("payments.payment-o1", events.PaymentCaptured{OrderID: "o1", AmountCents: 200})
		}, nil, invariant.ConfirmedCaptures},
		{"confirmed refunded", func(h *history) {
			h.add("payments.payment-o1", events.PaymentRefunded{OrderID: "o1", AmountCents: 200})
		}, nil, invariant.ConfirmedRefunded},
		{"confirmed not committed", func(h *history) { h.recs = drop(h.recs, "catalog.reservation-o1", 2) }, nil, invariant.ConfirmedNotCommited},
		{"cancelled capture kept", func(h *history) { h.recs = drop(h.recs, "payments.payment-o2", 2) }, nil, invariant.CancelledCaptured},
		{"cancelled refunded twice", func(h *history) {
			h.add("payments.payment-o2", events.PaymentRefunded{OrderID: "o2", AmountCents: 100})
		}, nil, invariant.CancelledRefunds},
		{"cancelled not released", func(h *history) { h.recs = drop(h.recs, "catalog.reservation-o2", 2) }, nil, invariant.CancelledNotReleased},
		{"cancelled hold left", func(h *history) { h.recs = drop(h.recs, "catalog.product-SKU-1", 5) }, nil, invariant.CancelledNotReleased},
		{"oversold", func(h *history) {
			h.add("catalog.product-SKU-1", invariant.Hold{Kind: invariant.HoldReserved, SKU: "SKU-1", OrderID: "o9", Quantity: 2})
		}, nil, invariant.StockNegative},
		{"release without hold", func(h *history) {
			h.add("catalog.product-SKU-1", invariant.Hold{Kind: invariant.HoldReleased, SKU: "SKU-1", OrderID: "o9", Quantity: 1})
		}, nil, invariant.StockBadHold},
		{"void drops a hold", func(h *history) {
			h.add("catalog.product-SKU-1", invariant.Hold{Kind: invariant.HoldReserved, SKU: "SKU-1", OrderID: "o9", Quantity: 1})
			h.add("catalog.product-SKU-1", invariant.Hold{Kind: invariant.HoldVoided, SKU: "SKU-1", OrderID: "o9"})
		}, nil, invariant.StockBadHold},
		{"reserved after a void", func(h *history) {
			h.add("catalog.product-SKU-1", invariant.Hold{Kind: invariant.HoldVoided, SKU: "SKU-1", OrderID: "o9"})
			h.add("catalog.product-SKU-1", invariant.Hold{Kind: invariant.HoldReserved, SKU: "SKU-1", OrderID: "o9", Quantity: 1})
		}, nil, invariant.StockBadHold},
		{"catalog counters disagree", func(*history) {}, map[string]invariant.Stock{"SKU-1": {Received: 3, Available: 2, Reserved: 0, Committed: 2}}, invariant.StockMismatch},
		{"capture of another amount", func(h *history) {
			h.recs = drop(h.recs, "payments.payment-o1", 1)
			h.add("payments.payment-o1", events.PaymentCaptured{OrderID: "o1", CustomerID: "c1", AmountCents: 150})
		}, nil, invariant.PaymentAmount},
		{"refund of another amount", func(h *history) {
			h.recs = drop(h.recs, "payments.payment-o2", 2)
			h.add("payments.payment-o2", events.PaymentRefunded{OrderID: "o2", CustomerID: "c1", AmountCents: 99})
		}, nil, invariant.PaymentAmount},
		{"wallet balance wrong", func(h *history) {
			h.add("payments.wallet-c1", events.FundsDeposited{CustomerID: "c1", AmountCents: 10, BalanceCents: 900})
		}, nil, invariant.WalletMismatch},
		{"wallet negative", func(h *history) {
			h.add("payments.wallet-c1", events.WalletDebited{CustomerID: "c1", OrderID: "o9", AmountCents: 900, BalanceCents: -100})
		}, nil, invariant.WalletNegative},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := healthy()
			tc.edit(h)
			stock := tc.stock
			if stock == nil {
				stock = healthyStock
			}
			rep := invariant.Check(h.recs, stock)
			if rep.Count(tc.want) == 0 {
				t.Fatalf("want a %s violation; got %s", tc.want, rep)
			}
		})
	}
}

// drop removes the nth (from 1) record of stream.
func drop(recs []invariant.Record, stream string, nth int) []invariant.Record {
	for i, r := range recs {
		if r.Stream == stream {
			nth--
			if nth == 0 {
				return append(recs[:i:i], recs[i+1:]...)
			}
		}
	}
	panic("no such record: " + stream)
}
