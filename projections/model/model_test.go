package model_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/troupe-dev/troupe/projections/internal/scenario"
	"github.com/troupe-dev/troupe/projections/model"
	"github.com/troupe-dev/troupe/shared/events"
	"github.com/troupe-dev/troupe/shared/platform/readmodel"
	"github.com/troupe-dev/troupe/shared/platform/testinfra"
)

func client(t *testing.T, url string) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// build applies msgs one by one into a fresh live generation of a new
// model and returns the model and its generation.
func build(t *testing.T, rdb *redis.Client, msgs []scenario.Msg, dup bool) (*model.Model, string) {
	t.Helper()
	ctx := context.Background()
	m := model.New(testinfra.KeyPrefix(t))
	gen, err := m.Namespace().Create(ctx, rdb, readmodel.NewGeneration())
	if err != nil {
		t.Fatal(err)
	}
	for _, msg := range msgs {
		ev, err := model.Encode(msg.Event, model.Source{Stream: msg.Stream, Revision: msg.Revision, OccurredAt: msg.OccurredAt})
		if err != nil {
			t.Fatal(err)
		}
		n, err := m.Applier().Apply(ctx, rdb, "", ev)
		if err != nil || n != 1 {
			t.Fatalf("apply %s@%d = %d, %v; want 1 applied", msg.Stream, msg.Revision, n, err)
		}
		if dup {
			if n, err := m.Applier().Apply(ctx, rdb, "", ev); err != nil || n != 0 {
				t.Fatalf("redelivered %s@%d: applied %d, %v; want 0", msg.Stream, msg.Revision, n, err)
			}
		}
	}
	return m, gen
}

func checksum(t *testing.T, rdb *redis.Client, m *model.Model, gen string) string {
	t.Helper()
	sum, err := m.Namespace().Checksum(context.Background(), rdb, gen)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// TestQueries: every query answers what the history implies.
func TestQueries(t *testing.T) {
	t.Parallel()
	testinfra.ForEachRedis(t, func(t *testing.T, rb testinfra.RedisBackend) {
		t.Parallel()
		ctx := context.Background()
		rdb := client(t, rb.URL)
		h := scenario.History(scenario.Config{Orders: 30, Products: 5, Customers: 3, Seed: 1})
		m, _ := build(t, rdb, h, false)

		// Products: all five, paginated by SKU, stock net of reservations.
		reserved := map[string]int64{}
		var revenue int64
		var confirmed, cancelled int64
		for _, msg := range h {
			switch e := msg.Event.(type) {
			case events.StockReserved:
				for _, l := range e.Lines {
					reserved[l.SKU] += int64(l.Quantity)
				}
			case events.StockReleased:
				for _, l := range e.Lines {
					reserved[l.SKU] -= int64(l.Quantity)
				}
			case events.OrderConfirmed:
				revenue += e.TotalCents
				confirmed++
			case events.OrderCancelled:
				cancelled++
			}
		}
		p1, err := m.Products(ctx, rdb, "", 3)
		if err != nil || len(p1.Items) != 3 || p1.NextCursor == "" || p1.Items[0].SKU != scenario.SKU(0) {
			t.Fatalf("products page 1 = %+v, %v", p1, err)
		}
		p2, err := m.Products(ctx, rdb, p1.NextCursor, 3)
		if err != nil || len(p2.Items) != 2 || p2.NextCursor != "" || p2.Items[0].SKU != scenario.SKU(3) {
			t.Fatalf("products page 2 = %+v, %v", p2, err)
		}
		for _, p := range append(p1.Items, p2.Items...) {
			if want := 1_000_000 - reserved[p.SKU]; p.Available != want || p.Name == "" || p.Currency != "EUR" {
				t.Errorf("product %+v: want available %d", p, want)
			}
		}
		if _, err := m.Product(ctx, rdb, "NOPE-1"); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("unknown product: %v", err)
		}
		if _, err := m.Products(ctx, rdb, "!!forged", 3); !errors.Is(err, model.ErrBadCursor) {
			t.Errorf("forged cursor: %v", err)
		}

		// Order detail: a confirmed and a cancelled one.
		o, err := m.Order(ctx, rdb, scenario.OrderID(0))
		if err != nil {
			t.Fatal(err)
		}
		var lines []events.PricedLine
		_ = json.Unmarshal(o.Lines, &lines)
		if o.Status != model.StatusConfirmed || o.CustomerID != scenario.Customer(0) || len(lines) == 0 ||
			o.Payment != (model.Payment{Status: "captured", Method: "wallet"}) || len(o.Timeline) != 6 {
			t.Fatalf("order 0 = %+v", o)
		}
		for i := 1; i < len(o.Timeline); i++ {
			if o.Timeline[i].At.Before(o.Timeline[i-1].At) {
				t.Fatalf("timeline not sorted: %+v", o.Timeline)
			}
		}
		if o.Timeline[0].Type != "order_placed" || o.Timeline[0].Context != "ordering" {
			t.Errorf("timeline starts with %+v", o.Timeline[0])
		}
		o2, err := m.Order(ctx, rdb, scenario.OrderID(2))
		if err != nil || o2.Status != model.StatusCancelled || o2.Reason != events.ReasonPaymentFailed || o2.Payment.Status != "failed" {
			t.Fatalf("order 2 = %+v, %v", o2, err)
		}
		if _, err := m.Order(ctx, rdb, "missing"); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("missing order: %v", err)
		}

		// Customer orders: 10 of customer 0, newest first, by status.
		all, err := m.CustomerOrders(ctx, rdb, scenario.Customer(0), "", "", 4)
		if err != nil || len(all.Items) != 4 || all.Items[0].OrderID != scenario.OrderID(27) || all.NextCursor == "" {
			t.Fatalf("orders of customer 0 = %+v, %v", all, err)
		}
		n := len(all.Items)
		for c := all.NextCursor; c != ""; {
			pg, err := m.CustomerOrders(ctx, rdb, scenario.Customer(0), "", c, 4)
			if err != nil {
				t.Fatal(err)
			}
			if len(pg.Items) > 0 && !pg.Items[0].PlacedAt.Before(all.Items[len(all.Items)-1].PlacedAt) {
				t.Fatalf("page not newer-first: %+v", pg.Items[0])
			}
			all.Items = append(all.Items, pg.Items...)
			n += len(pg.Items)
			c = pg.NextCursor
		}
		if n != 10 {
			t.Fatalf("customer 0 has %d orders over pages, want 10", n)
		}
		canc, err := m.CustomerOrders(ctx, rdb, scenario.Customer(2), model.StatusCancelled, "", 100)
		if err != nil || len(canc.Items) != 10 { // orders 2, 5, ..., 29 are customer 2's and all cancelled
			t.Fatalf("cancelled orders of customer 2 = %d, %v", len(canc.Items), err)
		}
		none, err := m.CustomerOrders(ctx, rdb, scenario.Customer(2), model.StatusConfirmed, "", 100)
		if err != nil || len(none.Items) != 0 {
			t.Fatalf("confirmed orders of customer 2 = %+v, %v", none, err)
		}

		// Wallet: customer 0 deposited and paid for each of its 10 orders.
		w, err := m.Wallet(ctx, rdb, scenario.Customer(0), "", 100)
		if err != nil || w.BalanceCents != 0 || len(w.Transactions) != 20 || w.Transactions[0].Type != "debit" {
			t.Fatalf("wallet = %+v, %v", w, err)
		}
		if _, err := m.Wallet(ctx, rdb, "nobody", "", 10); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("missing wallet: %v", err)
		}

		// Stats.
		st, err := m.Stats(ctx, rdb)
		if err != nil || st.RevenueCents != revenue || st.OrdersConfirmed != confirmed || st.OrdersCancelled != cancelled {
			t.Fatalf("stats = %+v, %v; want revenue %d, %d confirmed, %d cancelled", st, err, revenue, confirmed, cancelled)
		}
		var sum int64
		for i, p := range st.TopProducts {
			sum += p.RevenueCents
			if i > 0 && p.RevenueCents > st.TopProducts[i-1].RevenueCents {
				t.Fatalf("top products not by revenue: %+v", st.TopProducts)
			}
		}
		if sum != revenue || len(st.TopProducts) != 5 {
			t.Fatalf("top products %+v sum to %d, want %d", st.TopProducts, sum, revenue)
		}
	})
}

// TestExactlyOnceAndInterleaving: the same history applied with every
// event delivered twice, and in several cross-stream orders, gives a model
// identical (checksum of all keys) to applying it once in order.
func TestExactlyOnceAndInterleaving(t *testing.T) {
	t.Parallel()
	testinfra.ForEachRedis(t, func(t *testing.T, rb testinfra.RedisBackend) {
		t.Parallel()
		rdb := client(t, rb.URL)
		h := scenario.History(scenario.Config{Orders: 40, Products: 6, Customers: 4, Seed: 2})
		m, gen := build(t, rdb, h, false)
		want := checksum(t, rdb, m, gen)

		m2, gen2 := build(t, rdb, h, true)
		if got := checksum(t, rdb, m2, gen2); got != want {
			t.Fatal("applying every event twice changed the model")
		}
		// A replay of the whole history into the built model changes nothing.
		for _, msg := range h {
			ev, _ := model.Encode(msg.Event, model.Source{Stream: msg.Stream, Revision: msg.Revision, OccurredAt: msg.OccurredAt})
			if n, err := m2.Applier().Apply(context.Background(), rdb, "", ev); err != nil || n != 0 {
				t.Fatalf("replayed %s@%d applied %d, %v", msg.Stream, msg.Revision, n, err)
			}
		}
		if got := checksum(t, rdb, m2, gen2); got != want {
			t.Fatal("a replay changed the model")
		}
		for seed := uint64(1); seed <= 4; seed++ {
			m3, gen3 := build(t, rdb, scenario.Interleave(h, seed), false)
			if got := checksum(t, rdb, m3, gen3); got != want {
				t.Fatalf("interleaving %d gives a different model", seed)
			}
		}
	})
}

// TestNoModel: before any generation exists, applies and queries say so.
func TestNoModel(t *testing.T) {
	t.Parallel()
	rdb := client(t, testinfra.EmbeddedRedis(t))
	m := model.New(testinfra.KeyPrefix(t))
	ev, _ := model.Encode(events.StockReceived{SKU: "SKU-1", Quantity: 1}, model.Source{Stream: "catalog.product-SKU-1"})
	if _, err := m.Applier().Apply(context.Background(), rdb, "", ev); !errors.Is(err, readmodel.ErrNoModel) {
		t.Fatalf("apply without a model: %v", err)
	}
	if _, err := m.Stats(context.Background(), rdb); !errors.Is(err, readmodel.ErrNoModel) {
		t.Fatalf("query without a model: %v", err)
	}
}
