package service_test

import (
	"context"
	"testing"

	"github.com/troupe-dev/troupe/projections/internal/scenario"
	"github.com/troupe-dev/troupe/shared/events"
)

// TestOrderPlacedV1AndV2ThroughAFullReplay: a history in which half the
// orders were placed as order_placed v1 (before shipping addresses) and
// half as v2 is projected, live and again through a full rebuild from
// Kafka, exactly as the same history all in v2: the SDK and the rebuild
// upcast v1 on read.
func TestOrderPlacedV1AndV2ThroughAFullReplay(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, brokers []string, redisURL string) {
		e := newEnv(t, brokers, redisURL)
		h := scenario.History(scenario.Config{Orders: 40, Products: 4, Customers: 3, Seed: 9})
		mixed := make([]scenario.Msg, len(h))
		v1 := 0
		for i, m := range h {
			mixed[i] = m
			if p, ok := m.Event.(events.OrderPlaced); ok && v1 < 20 {
				mixed[i].Event = events.OrderPlacedV1{OrderID: p.OrderID, CustomerID: p.CustomerID, Lines: p.Lines,
					TotalCents: p.TotalCents, Currency: p.Currency, PaymentMethod: p.PaymentMethod, PlacedAt: p.PlacedAt}
				v1++
			}
		}
		if v1 != 20 {
			t.Fatalf("history has %d v1 placements, want 20", v1)
		}
		e.publish(mixed...)
		svc, _, _ := e.start()
		e.waitFor(token(h))
		want := e.reference(h)
		if got := e.liveChecksum(); got != want {
			t.Fatal("live model of the v1/v2 history differs from the model of the same history in v2")
		}
		if err := svc.Rebuild(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		e.waitFor(token(h))
		if got := e.liveChecksum(); got != want {
			t.Fatal("rebuilt model of the v1/v2 history differs from the model of the same history in v2")
		}
		if dl, err := svc.DeadLetters(context.Background()); err != nil || len(dl) != 0 {
			t.Fatalf("dead letters %v, %v", dl, err)
		}
	})
}
