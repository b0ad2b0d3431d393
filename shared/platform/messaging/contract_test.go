package messaging_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/troupe-dev/troupe/shared/events"
	"github.com/troupe-dev/troupe/shared/platform/messaging"
	"github.com/troupe-dev/troupe/shared/platform/testinfra"
)

// TestInvalidPayloadGoesToDLQWithValidationError: a payload that breaks its
// schema never reaches the handler; it is dead-lettered at once with the
// violation in troupe-dlq-error, and the stream's valid events around it on
// other streams are handled.
func TestInvalidPayloadGoesToDLQWithValidationError(t *testing.T) {
	t.Parallel()
	testinfra.ForEachKafka(t, func(t *testing.T, kb testinfra.KafkaBackend) {
		t.Parallel()
		r := newRig(t, kb.Brokers)
		// Well-formed JSON the Go type would decode happily, but quantity
		// 0 is below the contract's minimum.
		r.publishRaw("catalog.product-ZERO", 0, events.TypeStockReceived, []byte(`{"sku":"ZERO","quantity":0}`))
		// A required field missing.
		r.publishRaw("catalog.product-NOSKU", 0, events.TypeStockReceived, []byte(`{"quantity":3}`))
		r.publish("catalog.product-GOOD", 0, events.StockReceived{SKU: "GOOD", Quantity: 1})
		var rec recorder
		var mu sync.Mutex
		var seen []string
		sub := r.subscriber(messaging.Hooks{})
		messaging.Handle(sub, func(_ context.Context, e events.StockReceived, m messaging.Meta) error {
			mu.Lock()
			seen = append(seen, e.SKU)
			mu.Unlock()
			rec.add(m)
			return nil
		})
		run(t, sub)
		var dl []messaging.DeadLetter
		waitFor(t, "two dead letters", func() bool {
			dl, _ = sub.DeadLetters(context.Background())
			return len(dl) == 2
		})
		waitFor(t, "the good event", func() bool { return rec.count() == 1 })
		want := map[string]string{"catalog.product-ZERO": "/quantity", "catalog.product-NOSKU": "sku"}
		for _, d := range dl {
			if !strings.Contains(d.Error, "schema violation") || !strings.Contains(d.Error, want[d.Stream]) || d.Attempts != 1 ||
				d.EventType != events.TypeStockReceived {
				t.Errorf("dead letter %+v: want the validation error naming %q", d, want[d.Stream])
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if len(seen) != 1 || seen[0] != "GOOD" {
			t.Fatalf("handler saw %v, want only GOOD", seen)
		}
	})
}

// TestOrderPlacedV1IsUpcast: history holds order_placed v1 and v2 side by
// side; a handler for events.OrderPlaced receives both, v1 with no address
// and Meta naming the current type; a raw handler registered under the v1
// name receives the upcast v2 payload.
func TestOrderPlacedV1IsUpcast(t *testing.T) {
	t.Parallel()
	testinfra.ForEachKafka(t, func(t *testing.T, kb testinfra.KafkaBackend) {
		t.Parallel()
		r := newRig(t, kb.Brokers)
		at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
		lines := []events.PricedLine{{SKU: "MUG-1", Quantity: 2, UnitPriceCents: 450}}
		const o1, o2 = "6f1c2f6e-8a4f-4a57-9d38-2d8a3e5e7a10", "7a2d3e4f-8a4f-4a57-9d38-2d8a3e5e7a11"
		r.publish("ordering.order-"+o1, 0, events.OrderPlacedV1{OrderID: o1, CustomerID: "c-1", Lines: lines,
			TotalCents: 900, Currency: "EUR", PaymentMethod: events.PaymentMethodWallet, PlacedAt: at})
		addr := &events.ShippingAddress{Recipient: "Ada", Line1: "Main St 1", City: "Berlin", PostalCode: "10115", Country: "DE"}
		r.publish("ordering.order-"+o2, 0, events.OrderPlaced{OrderID: o2, CustomerID: "c-1", Lines: lines,
			TotalCents: 900, Currency: "EUR", PaymentMethod: events.PaymentMethodCard, PlacedAt: at, ShippingAddress: addr})

		var mu sync.Mutex
		got := map[string]events.OrderPlaced{}
		raw := map[string]map[string]json.RawMessage{}
		var types []string
		sub := r.subscriber(messaging.Hooks{})
		messaging.Handle(sub, func(_ context.Context, e events.OrderPlaced, m messaging.Meta) error {
			mu.Lock()
			defer mu.Unlock()
			got[e.OrderID] = e
			types = append(types, m.EventType)
			return nil
		})
		run(t, sub)
		waitFor(t, "both orders", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 2 })

		rawSub := newRig(t, kb.Brokers)
		rawSub.topic = r.topic
		sub2 := rawSub.subscriber(messaging.Hooks{})
		messaging.HandleRaw(sub2, events.TypeOrderPlacedV1, func(_ context.Context, p []byte, m messaging.Meta) error {
			var f map[string]json.RawMessage
			if err := json.Unmarshal(p, &f); err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			raw[m.Stream] = f
			return nil
		})
		run(t, sub2)
		waitFor(t, "both raw payloads", func() bool { mu.Lock(); defer mu.Unlock(); return len(raw) == 2 })

		mu.Lock()
		defer mu.Unlock()
		if v1 := got[o1]; v1.ShippingAddress != nil || v1.TotalCents != 900 || !v1.PlacedAt.Equal(at) || len(v1.Lines) != 1 {
			t.Errorf("v1 upcast = %+v", v1)
		}
		if v2 := got[o2]; v2.ShippingAddress == nil || *v2.ShippingAddress != *addr {
			t.Errorf("v2 = %+v", v2)
		}
		for _, typ := range types {
			if typ != events.TypeOrderPlaced {
				t.Errorf("Meta.EventType = %q, want the current %q", typ, events.TypeOrderPlaced)
			}
		}
		if a, ok := raw["ordering.order-"+o1]["shippingAddress"]; !ok || string(a) != "null" {
			t.Errorf("raw v1 payload not upcast: %v", raw["ordering.order-"+o1])
		}
		if dl, _ := sub.DeadLetters(context.Background()); len(dl) != 0 {
			t.Errorf("dead letters %+v", dl)
		}
	})
}

// TestHandleSupersededVersionPanics: a handler for a historical version
// could never be called (deliveries are upcast), so wiring one panics.
func TestHandleSupersededVersionPanics(t *testing.T) {
	sub, err := messaging.NewSubscriber("superseded", messaging.SubscriberConfig{Brokers: []string{"x:1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("Handle[OrderPlacedV1] did not panic")
		}
	}()
	messaging.Handle(sub, func(context.Context, events.OrderPlacedV1, messaging.Meta) error { return nil })
}
