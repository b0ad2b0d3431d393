package adapters

import (
	"encoding/json"
	"fmt"

	"github.com/troupe-dev/troupe/contexts/catalog/domain/product"
	"github.com/troupe-dev/troupe/contexts/catalog/domain/reservation"
	"github.com/troupe-dev/troupe/shared/events"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
	"github.com/troupe-dev/troupe/shared/platform/relay"
)

// Mapper maps the catalog's domain events to its integration events:
// product listed, repriced and stock received from product streams; the
// outcomes of reservations (reserved, failed, committed, released) from
// reservation streams, so each is keyed by the order's reservation stream.
// Per-order holds on products, intents and the end of compensations stay
// private. It is deterministic and free of side effects, as relay.Mapper
// requires; safe for concurrent use.
type Mapper struct {
	events *eventstore.Registry
}

// NewMapper returns a Mapper decoding with events (see Events).
func NewMapper(events *eventstore.Registry) *Mapper { return &Mapper{events: events} }

// SourceTypes implements relay.TypedMapper: the domain event types Map
// publishes, so the relay reads nothing else from the store.
func (m *Mapper) SourceTypes() []string {
	return []string{EventProductListed, EventProductRepriced, EventStockReceived, EventReservationReserved,
		EventReservationFailed, EventReservationCommitted, EventReservationReleasedAll}
}

// Map implements relay.Mapper.
func (m *Mapper) Map(ev eventstore.RecordedEvent) (relay.Event, bool, error) {
	decoded, err := m.events.Decode(ev.Type, ev.Data)
	if err != nil {
		return relay.Event{}, false, fmt.Errorf("map %s@%d: %w", ev.Stream, ev.Revision, err)
	}
	var ie events.Event
	switch e := decoded.(type) {
	case product.Listed:
		ie = events.ProductListed{SKU: e.SKU, Name: e.Name, PriceCents: e.PriceCents, Currency: e.Currency}
	case product.Repriced:
		ie = events.ProductRepriced{SKU: e.SKU, PriceCents: e.PriceCents, Currency: e.Currency}
	case product.StockReceived:
		ie = events.StockReceived{SKU: e.SKU, Quantity: int(e.Quantity)}
	case reservation.Reserved:
		ie = events.StockReserved{OrderID: e.OrderID, Lines: lines(e.Lines)}
	case reservation.Failed:
		ie = events.StockReservationFailed{OrderID: e.OrderID, Reason: e.Reason, SKU: e.SKU}
	case reservation.Committed:
		ie = events.StockCommitted{OrderID: e.OrderID, Lines: lines(e.Lines)}
	case reservation.Released:
		ie = events.StockReleased{OrderID: e.OrderID, Lines: lines(e.Lines)}
	default:
		return relay.Event{}, false, nil
	}
	payload, err := json.Marshal(ie)
	if err != nil {
		return relay.Event{}, false, fmt.Errorf("map %s@%d: %w", ev.Stream, ev.Revision, err)
	}
	return relay.Event{Type: ie.EventType(), Payload: payload}, true, nil
}

func lines(ls []reservation.Line) []events.Line {
	out := make([]events.Line, len(ls))
	for i, l := range ls {
		out[i] = events.Line{SKU: l.SKU, Quantity: int(l.Quantity)}
	}
	return out
}
