package adapters

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/troupe-dev/troupe/contexts/ordering/domain/order"
	"github.com/troupe-dev/troupe/shared/events"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
	"github.com/troupe-dev/troupe/shared/platform/relay"
)

// Mapper returns the relay's mapper for the ordering context: an order's
// placed, confirmed and cancelled events become ordering.order_placed.v2
// (the current version, with the shipping address: null for orders placed
// without one, including those recorded before v2), order_confirmed.v1 and
// order_cancelled.v1; everything else (the
// reservation mark, the price book, streams of other categories) stays
// private. It is deterministic and free of side effects.
// It names its source types (relay.TypedMapper), so the relay reads
// nothing else from the store.
func Mapper(registry *eventstore.Registry) relay.Mapper {
	return typedMapper{relay.MapperFunc(func(ev eventstore.RecordedEvent) (relay.Event, bool, error) {
		orderID, ok := strings.CutPrefix(ev.Stream, OrderStreamPrefix)
		if !ok {
			return relay.Event{}, false, nil
		}
		switch ev.Type {
		case TypeOrderPlaced, TypeOrderConfirmed, TypeOrderCancelled:
		default:
			return relay.Event{}, false, nil
		}
		decoded, err := registry.Decode(ev.Type, ev.Data)
		if err != nil {
			return relay.Event{}, false, err
		}
		var ie events.Event
		switch e := decoded.(type) {
		case order.Placed:
			lines := make([]events.PricedLine, len(e.Lines))
			for i, l := range e.Lines {
				lines[i] = events.PricedLine{SKU: l.SKU, Quantity: l.Quantity, UnitPriceCents: l.UnitPriceCents}
			}
			placed := events.OrderPlaced{
				OrderID: orderID, CustomerID: e.CustomerID, Lines: lines, TotalCents: e.TotalCents,
				Currency: e.Currency, PaymentMethod: e.PaymentMethod, PlacedAt: e.PlacedAt,
			}
			if a := e.ShippingAddress; a != nil {
				placed.ShippingAddress = &events.ShippingAddress{Recipient: a.Recipient, Line1: a.Line1, Line2: a.Line2,
					City: a.City, PostalCode: a.PostalCode, Country: a.Country}
			}
			ie = placed
		case order.Confirmed:
			ie = events.OrderConfirmed{OrderID: orderID, CustomerID: e.CustomerID, TotalCents: e.TotalCents}
		case order.Cancelled:
			ie = events.OrderCancelled{OrderID: orderID, CustomerID: e.CustomerID, Reason: e.Reason}
		default:
			return relay.Event{}, false, fmt.Errorf("ordering mapper: %s decoded as %T", ev.Type, decoded)
		}
		payload, err := json.Marshal(ie)
		if err != nil {
			return relay.Event{}, false, err
		}
		return relay.Event{Type: ie.EventType(), Payload: payload}, true, nil
	})}
}

// typedMapper is the ordering mapper with its source types.
type typedMapper struct{ relay.MapperFunc }

// SourceTypes implements relay.TypedMapper.
func (typedMapper) SourceTypes() []string {
	return []string{TypeOrderPlaced, TypeOrderConfirmed, TypeOrderCancelled}
}
