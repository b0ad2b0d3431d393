// Package adapters connects the ordering domain to the event store (the
// order and price-book repositories) and to Kafka (the relay's mapper).
package adapters

import (
	"github.com/troupe-dev/troupe/contexts/ordering/domain/order"
	"github.com/troupe-dev/troupe/contexts/ordering/domain/pricebook"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

// Stream categories and domain event type names of the ordering context.
// They are stored forever: never rename one.
const (
	OrderCategory     = "ordering.order"
	PriceBookCategory = "ordering.pricebook"

	TypeOrderPlaced    = "ordering.order.placed"
	TypeOrderReserved  = "ordering.order.reserved"
	TypeOrderConfirmed = "ordering.order.confirmed"
	TypeOrderCancelled = "ordering.order.cancelled"

	TypeProductListed   = "ordering.pricebook.product_listed"
	TypeProductRepriced = "ordering.pricebook.product_repriced"
)

// OrderStreamPrefix prefixes every order stream ("ordering.order-<id>").
const OrderStreamPrefix = OrderCategory + "-"

// NewEventRegistry returns the registry of the ordering context's domain
// events (JSON of the domain's event structs).
func NewEventRegistry() *eventstore.Registry {
	r := eventstore.NewRegistry()
	eventstore.Register[order.Placed](r, TypeOrderPlaced)
	eventstore.Register[order.Reserved](r, TypeOrderReserved)
	eventstore.Register[order.Confirmed](r, TypeOrderConfirmed)
	eventstore.Register[order.Cancelled](r, TypeOrderCancelled)
	eventstore.Register[pricebook.Listed](r, TypeProductListed)
	eventstore.Register[pricebook.Repriced](r, TypeProductRepriced)
	return r
}
