// Package adapters connects the catalog's domain to the event store and
// the relay: the stored names of its domain events, its repositories, and
// the mapper from domain events to integration events.
package adapters

import (
	"github.com/troupe-dev/troupe/contexts/catalog/domain/product"
	"github.com/troupe-dev/troupe/contexts/catalog/domain/reservation"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

// Stream categories: streams are "<category>-<id>".
const (
	// ProductCategory holds one stream per SKU: catalog.product-<sku>.
	ProductCategory = "catalog.product"
	// ReservationCategory holds one stream per order:
	// catalog.reservation-<orderId>.
	ReservationCategory = "catalog.reservation"
)

// Stored names of the catalog's domain events. They are private to the
// catalog (only the mapper's integration events leave it) but they are the
// stored history: never rename one.
const (
	EventProductListed   = "catalog.product.listed"
	EventProductRepriced = "catalog.product.repriced"
	EventStockReceived   = "catalog.product.stock_received"
	EventStockReserved   = "catalog.product.stock_reserved"
	EventHoldReleased    = "catalog.product.reservation_released"
	EventHoldCommitted   = "catalog.product.reservation_committed"
	EventHoldVoided      = "catalog.product.reservation_voided"

	EventReservationRequested      = "catalog.reservation.requested"
	EventReservationVoided         = "catalog.reservation.voided"
	EventReservationReserved       = "catalog.reservation.reserved"
	EventReservationFailed         = "catalog.reservation.failed"
	EventReservationUndone         = "catalog.reservation.undone"
	EventReservationCommitStarted  = "catalog.reservation.commit_started"
	EventReservationCommitted      = "catalog.reservation.committed"
	EventReservationReleaseStarted = "catalog.reservation.release_started"
	EventReservationReleasedAll    = "catalog.reservation.released"
)

// Events returns a registry of every catalog domain event. The domain
// events carry no struct tags, so their JSON uses the Go field names: those
// field names are part of the stored schema too.
func Events() *eventstore.Registry {
	r := eventstore.NewRegistry()
	eventstore.Register[product.Listed](r, EventProductListed)
	eventstore.Register[product.Repriced](r, EventProductRepriced)
	eventstore.Register[product.StockReceived](r, EventStockReceived)
	eventstore.Register[product.StockReserved](r, EventStockReserved)
	eventstore.Register[product.ReservationReleased](r, EventHoldReleased)
	eventstore.Register[product.ReservationCommitted](r, EventHoldCommitted)
	eventstore.Register[product.ReservationVoided](r, EventHoldVoided)

	eventstore.Register[reservation.Requested](r, EventReservationRequested)
	eventstore.Register[reservation.Voided](r, EventReservationVoided)
	eventstore.Register[reservation.Reserved](r, EventReservationReserved)
	eventstore.Register[reservation.Failed](r, EventReservationFailed)
	eventstore.Register[reservation.Undone](r, EventReservationUndone)
	eventstore.Register[reservation.CommitStarted](r, EventReservationCommitStarted)
	eventstore.Register[reservation.Committed](r, EventReservationCommitted)
	eventstore.Register[reservation.ReleaseStarted](r, EventReservationReleaseStarted)
	eventstore.Register[reservation.Released](r, EventReservationReleasedAll)
	return r
}
