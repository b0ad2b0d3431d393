package events

import (
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

var versioned = regexp.MustCompile(`^[a-z]+\.[a-z_]+\.v[1-9][0-9]*$`)

// TestEveryTypeRoundTrips: every registered event marshals to JSON and
// decodes back equal, under the type name it reports, whose context prefix
// is one of the three contexts and whose version suffix is present.
func TestEveryTypeRoundTrips(t *testing.T) {
	r := NewRegistry()
	samples := map[string]Event{
		TypeStockReserved: StockReserved{OrderID: "o1", Lines: []Line{{SKU: "SKU-1", Quantity: 2}}},
		TypeOrderPlaced: OrderPlaced{OrderID: "o1", CustomerID: "c1", Lines: []PricedLine{{SKU: "SKU-1", Quantity: 2, UnitPriceCents: 150}},
			TotalCents: 300, Currency: "EUR", PaymentMethod: PaymentMethodCard, PlacedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		TypePaymentCaptured: PaymentCaptured{OrderID: "o1", CustomerID: "c1", PaymentID: "p1", AmountCents: 300, Method: PaymentMethodWallet},
	}
	if len(All()) != 16 || len(r.Types()) != 16 {
		t.Fatalf("registry holds %d types, want the design's 16", len(r.Types()))
	}
	for _, zero := range All() {
		name := zero.EventType()
		ctx := ContextOf(name)
		if ctx != ContextCatalog && ctx != ContextOrdering && ctx != ContextPayments || !versioned.MatchString(name) {
			t.Errorf("type %q: bad context %q or version", name, ctx)
		}
		e := zero
		if s, ok := samples[name]; ok {
			e = s
		}
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("%s: marshal: %v", name, err)
		}
		got, err := r.Decode(name, b)
		if err != nil {
			t.Fatalf("%s: decode: %v", name, err)
		}
		if !reflect.DeepEqual(got, e) {
			t.Errorf("%s: round trip = %#v, want %#v", name, got, e)
		}
	}
}

// TestDecodeErrors: an unknown type and a malformed payload are errors.
func TestDecodeErrors(t *testing.T) {
	r := NewRegistry()
	if _, err := r.Decode("catalog.nope.v1", []byte(`{}`)); !errors.Is(err, ErrUnknownType) {
		t.Fatalf("unknown type: err = %v", err)
	}
	if _, err := r.Decode(TypeStockReceived, []byte(`{"sku": 12}`)); err == nil {
		t.Fatal("wrong field type decoded without error")
	}
	if _, err := r.Decode(TypeStockReceived, []byte(`not json`)); err == nil {
		t.Fatal("malformed payload decoded without error")
	}
}

// TestJSONFieldNames pins the wire names of the design's table.
func TestJSONFieldNames(t *testing.T) {
	b, _ := json.Marshal(OrderPlaced{})
	for _, f := range []string{"orderId", "customerId", "lines", "totalCents", "currency", "paymentMethod", "placedAt"} {
		if !strings.Contains(string(b), `"`+f+`"`) {
			t.Errorf("order_placed JSON %s lacks %q", b, f)
		}
	}
}
