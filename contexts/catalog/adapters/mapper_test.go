package adapters_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/google/uuid"

	"github.com/troupe-dev/troupe/contexts/catalog/adapters"
	"github.com/troupe-dev/troupe/contexts/catalog/domain/product"
	"github.com/troupe-dev/troupe/contexts/catalog/domain/reservation"
	"github.com/troupe-dev/troupe/shared/events"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
	"github.com/troupe-dev/troupe/shared/platform/relay/relaytest"
)

func TestMapper(t *testing.T) {
	t.Parallel()
	reg := adapters.Events()
	m := adapters.NewMapper(reg)
	lines := []reservation.Line{{SKU: "A-1", Quantity: 2}}
	wantLines := []events.Line{{SKU: "A-1", Quantity: 2}}
	tests := []struct {
		domain any
		want   events.Event // nil: private
	}{
		{product.Listed{SKU: "A-1", Name: "Mug", PriceCents: 900, Currency: "EUR"}, events.ProductListed{SKU: "A-1", Name: "Mug", PriceCents: 900, Currency: "EUR"}},
		{product.Repriced{SKU: "A-1", PriceCents: 950, Currency: "EUR"}, events.ProductRepriced{SKU: "A-1", PriceCents: 950, Currency: "EUR"}},
		{product.StockReceived{SKU: "A-1", Quantity: 5}, events.StockReceived{SKU: "A-1", Quantity: 5}},
		{reservation.Reserved{OrderID: "o", Lines: lines}, events.StockReserved{OrderID: "o", Lines: wantLines}},
		{reservation.Failed{OrderID: "o", Reason: reservation.ReasonOutOfStock, SKU: "A-1", Lines: lines}, events.StockReservationFailed{OrderID: "o", Reason: events.ReasonOutOfStock, SKU: "A-1"}},
		{reservation.Committed{OrderID: "o", Lines: lines}, events.StockCommitted{OrderID: "o", Lines: wantLines}},
		{reservation.Released{OrderID: "o", Lines: lines}, events.StockReleased{OrderID: "o", Lines: wantLines}},
		{product.StockReserved{SKU: "A-1", OrderID: "o", Quantity: 2}, nil},
		{product.ReservationReleased{SKU: "A-1", OrderID: "o", Quantity: 2}, nil},
		{product.ReservationCommitted{SKU: "A-1", OrderID: "o", Quantity: 2}, nil},
		{product.ReservationVoided{SKU: "A-1", OrderID: "o"}, nil},
		{reservation.Requested{OrderID: "o", Lines: lines, Cause: "c"}, nil},
		{reservation.Voided{OrderID: "o", Cause: "c"}, nil},
		{reservation.Undone{OrderID: "o"}, nil},
		{reservation.CommitStarted{OrderID: "o", Cause: "c"}, nil},
		{reservation.ReleaseStarted{OrderID: "o", Cause: "c"}, nil},
	}
	for _, tt := range tests {
		name, data, err := reg.Encode(tt.domain)
		if err != nil {
			t.Fatal(err)
		}
		ie, ok, err := m.Map(eventstore.RecordedEvent{ID: uuid.New(), Type: name, Stream: "catalog.x-1", Data: data})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if tt.want == nil {
			if ok {
				t.Fatalf("%s: private event published as %s", name, ie.Type)
			}
			continue
		}
		if !ok || ie.Type != tt.want.EventType() {
			t.Fatalf("%s: mapped %v %q, want %s", name, ok, ie.Type, tt.want.EventType())
		}
		got, err := events.NewRegistry().Decode(ie.Type, ie.Payload)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Fatalf("%s: payload %#v, want %#v", name, got, tt.want)
		}
	}
	if _, _, err := m.Map(eventstore.RecordedEvent{Type: "catalog.product.unknown", Data: json.RawMessage(`{}`)}); err == nil {
		t.Fatal("an unknown event type must stop the relay, not be skipped")
	}
}

func TestMapperNamesWhatItPublishes(t *testing.T) {
	relaytest.CheckSourceTypes(t, adapters.NewMapper(adapters.Events()), adapters.Events(), "catalog.x-1")
}
