package adapters_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/troupe-dev/troupe/contexts/ordering/adapters"
	"github.com/troupe-dev/troupe/contexts/ordering/domain/order"
	"github.com/troupe-dev/troupe/contexts/ordering/domain/pricebook"
	"github.com/troupe-dev/troupe/shared/events"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
	"github.com/troupe-dev/troupe/shared/platform/relay/relaytest"
)

func recorded(t *testing.T, reg *eventstore.Registry, stream string, e any) eventstore.RecordedEvent {
	t.Helper()
	name, data, err := reg.Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	return eventstore.RecordedEvent{ID: uuid.New(), Type: name, Stream: stream, Data: data}
}

func TestMapper(t *testing.T) {
	t.Parallel()
	reg := adapters.NewEventRegistry()
	m := adapters.Mapper(reg)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	stream := "ordering.order-o-1"
	for _, tc := range []struct {
		name   string
		stream string
		event  any
		want   events.Event // nil: private
	}{
		{"placed", stream, order.Placed{OrderID: "o-1", CustomerID: "c-1", TotalCents: 700, Currency: "EUR",
			PaymentMethod: "card", PlacedAt: at, Deadline: at.Add(time.Minute), RequestHash: "h",
			Lines: []order.PlacedLine{{SKU: "MUG-1", Quantity: 2, UnitPriceCents: 350}}},
			events.OrderPlaced{OrderID: "o-1", CustomerID: "c-1", TotalCents: 700, Currency: "EUR", PaymentMethod: "card",
				PlacedAt: at, Lines: []events.PricedLine{{SKU: "MUG-1", Quantity: 2, UnitPriceCents: 350}}}},
		{"placed with an address", stream, order.Placed{OrderID: "o-1", CustomerID: "c-1", TotalCents: 350, Currency: "EUR",
			PaymentMethod: "wallet", PlacedAt: at, Deadline: at.Add(time.Minute),
			Lines:           []order.PlacedLine{{SKU: "MUG-1", Quantity: 1, UnitPriceCents: 350}},
			ShippingAddress: &order.PlacedAddress{Recipient: "Ada", Line1: "Main St 1", City: "Berlin", PostalCode: "10115", Country: "DE"}},
			events.OrderPlaced{OrderID: "o-1", CustomerID: "c-1", TotalCents: 350, Currency: "EUR", PaymentMethod: "wallet",
				PlacedAt: at, Lines: []events.PricedLine{{SKU: "MUG-1", Quantity: 1, UnitPriceCents: 350}},
				ShippingAddress: &events.ShippingAddress{Recipient: "Ada", Line1: "Main St 1", City: "Berlin", PostalCode: "10115", Country: "DE"}}},
		{"confirmed", stream, order.Confirmed{CustomerID: "c-1", TotalCents: 700, CausationID: "x"},
			events.OrderConfirmed{OrderID: "o-1", CustomerID: "c-1", TotalCents: 700}},
		{"cancelled", stream, order.Cancelled{CustomerID: "c-1", Reason: "timeout", CausationID: "x"},
			events.OrderCancelled{OrderID: "o-1", CustomerID: "c-1", Reason: "timeout"}},
		{"reserved is private", stream, order.Reserved{CausationID: "x"}, nil},
		{"price book is private", "ordering.pricebook-MUG-1", pricebook.Listed{SKU: "MUG-1", PriceCents: 1, Currency: "EUR"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ie, ok, err := m.Map(recorded(t, reg, tc.stream, tc.event))
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == nil {
				if ok {
					t.Fatalf("published %s", ie.Type)
				}
				return
			}
			if !ok || ie.Type != tc.want.EventType() {
				t.Fatalf("ok %v type %q, want %q", ok, ie.Type, tc.want.EventType())
			}
			got, err := events.NewRegistry().Decode(ie.Type, ie.Payload)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("payload %s\n got %#v\nwant %#v", ie.Payload, got, tc.want)
			}
		})
	}
	// A Placed recorded before addresses existed (no ShippingAddress key)
	// is published as v2 with a null address.
	old := eventstore.RecordedEvent{ID: uuid.New(), Type: adapters.TypeOrderPlaced, Stream: stream, Data: []byte(
		`{"OrderID":"o-1","CustomerID":"c-1","Lines":[{"SKU":"MUG-1","Quantity":1,"UnitPriceCents":350}],"TotalCents":350,` +
			`"Currency":"EUR","PaymentMethod":"card","PlacedAt":"2026-01-02T03:04:05Z","Deadline":"2026-01-02T03:05:05Z"}`)}
	if ie, ok, err := m.Map(old); err != nil || !ok || ie.Type != events.TypeOrderPlaced ||
		!json.Valid(ie.Payload) || !strings.Contains(string(ie.Payload), `"shippingAddress":null`) {
		t.Fatalf("pre-v2 placed: %s %s ok %v err %v", ie.Type, ie.Payload, ok, err)
	}
	// Undecodable data is an error, never silently skipped.
	bad := eventstore.RecordedEvent{Type: adapters.TypeOrderPlaced, Stream: stream, Data: []byte("{")}
	if _, _, err := m.Map(bad); err == nil {
		t.Fatal("no error for a corrupt event")
	}
	var raw map[string]any
	ie, _, _ := m.Map(recorded(t, reg, stream, order.Confirmed{CustomerID: "c-1", TotalCents: 1}))
	if err := json.Unmarshal(ie.Payload, &raw); err != nil || raw["orderId"] != "o-1" {
		t.Fatalf("JSON names: %s", ie.Payload)
	}
}

func TestMapperNamesWhatItPublishes(t *testing.T) {
	reg := adapters.NewEventRegistry()
	relaytest.CheckSourceTypes(t, adapters.Mapper(reg), reg, adapters.OrderStreamPrefix+"o-1")
}
