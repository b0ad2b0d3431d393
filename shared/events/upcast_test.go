package events

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"
)

// TestOrderPlacedV1UpcastsToV2: a v1 payload decodes as the current
// OrderPlaced with every v1 field kept and no (unknown) address.
func TestOrderPlacedV1UpcastsToV2(t *testing.T) {
	v1 := OrderPlacedV1{OrderID: "3f2b8c1e-0000-4000-8000-000000000001", CustomerID: "c1",
		Lines:      []PricedLine{{SKU: "SKU-1", Quantity: 2, UnitPriceCents: 150}},
		TotalCents: 300, Currency: "EUR", PaymentMethod: PaymentMethodWallet,
		PlacedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	b, _ := json.Marshal(v1)
	r := NewRegistry()
	got, err := r.Decode(TypeOrderPlacedV1, b)
	if err != nil {
		t.Fatal(err)
	}
	want := OrderPlaced{OrderID: v1.OrderID, CustomerID: v1.CustomerID, Lines: v1.Lines, TotalCents: v1.TotalCents,
		Currency: v1.Currency, PaymentMethod: v1.PaymentMethod, PlacedAt: v1.PlacedAt}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded v1 = %#v, want %#v", got, want)
	}
	typ, up, err := r.Upcast(TypeOrderPlacedV1, b)
	if err != nil || typ != TypeOrderPlaced {
		t.Fatalf("Upcast = %q, %v", typ, err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(up, &fields); err != nil || string(fields["shippingAddress"]) != "null" {
		t.Fatalf("upcast payload %s: want shippingAddress null", up)
	}
	if cur, ok := r.Current(TypeOrderPlacedV1); !ok || cur != TypeOrderPlaced {
		t.Fatalf("Current(v1) = %q, %v", cur, ok)
	}
}

// TestUpcastKeepsCurrentAndUnknownFields: a current payload passes as it
// is; a field v1 did not define survives the upcast.
func TestUpcastKeepsCurrentAndUnknownFields(t *testing.T) {
	c := NewChain()
	in := []byte(`{"orderId":"x"}`)
	typ, out, err := c.Upcast(TypeOrderPlaced, in)
	if err != nil || typ != TypeOrderPlaced || string(out) != string(in) {
		t.Fatalf("current payload changed: %q %s %v", typ, out, err)
	}
	_, out, err = c.Upcast(TypeOrderPlacedV1, []byte(`{"orderId":"x","extra":7}`))
	if err != nil || string(out) != `{"extra":7,"orderId":"x","shippingAddress":null}` {
		t.Fatalf("upcast = %s, %v", out, err)
	}
}

// TestUpcastErrors: a v1 payload that is not an object cannot be upcast,
// and Decode says so; an unknown type stays ErrUnknownType.
func TestUpcastErrors(t *testing.T) {
	r := NewRegistry()
	for _, p := range []string{`[1]`, `null`, `nope`} {
		if _, err := r.Decode(TypeOrderPlacedV1, []byte(p)); err == nil {
			t.Errorf("v1 payload %s decoded", p)
		}
	}
	if _, err := r.Decode("ordering.order_placed.v9", []byte(`{}`)); !errors.Is(err, ErrUnknownType) {
		t.Errorf("unknown version: %v", err)
	}
}

// TestChainMultiStep: steps compose (v1 -> v2 -> v3), and a chain that
// would loop or skip contexts is refused at wiring time.
func TestChainMultiStep(t *testing.T) {
	add := func(k string) func([]byte) ([]byte, error) {
		return func(p []byte) ([]byte, error) { return append(p, k...), nil }
	}
	c := NewChain(Upcaster{From: "a.e.v1", To: "a.e.v2", Up: add("2")}, Upcaster{From: "a.e.v2", To: "a.e.v3", Up: add("3")})
	typ, out, err := c.Upcast("a.e.v1", []byte("1"))
	if err != nil || typ != "a.e.v3" || string(out) != "123" {
		t.Fatalf("Upcast = %q %s %v", typ, out, err)
	}
	for name, ups := range map[string][]Upcaster{
		"cycle":   {{From: "a.e.v1", To: "a.e.v2", Up: add("")}, {From: "a.e.v2", To: "a.e.v1", Up: add("")}},
		"context": {{From: "a.e.v1", To: "b.e.v2", Up: add("")}},
		"dup":     {{From: "a.e.v1", To: "a.e.v2", Up: add("")}, {From: "a.e.v1", To: "a.e.v3", Up: add("")}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: NewChain did not panic", name)
				}
			}()
			NewChain(ups...)
		}()
	}
}
