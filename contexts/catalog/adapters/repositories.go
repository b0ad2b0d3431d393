package adapters

import (
	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/troupe-dev/troupe/contexts/catalog/domain/product"
	"github.com/troupe-dev/troupe/contexts/catalog/domain/reservation"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

// NewProductRepository returns the repository of products over client.
// maxRetries bounds the reloads after a conflicting write: a hot SKU sees
// many concurrent reservations, so it should be generous (0: the
// repository's default).
func NewProductRepository(client *esdb.Client, events *eventstore.Registry, maxRetries int) (*eventstore.Repository[*product.Product], error) {
	return eventstore.NewRepository(client, eventstore.RepositoryConfig[*product.Product]{
		Category:   ProductCategory,
		New:        product.New,
		Events:     events,
		MaxRetries: maxRetries,
	})
}

// NewReservationRepository returns the repository of reservations over
// client.
func NewReservationRepository(client *esdb.Client, events *eventstore.Registry, maxRetries int) (*eventstore.Repository[*reservation.Reservation], error) {
	return eventstore.NewRepository(client, eventstore.RepositoryConfig[*reservation.Reservation]{
		Category:   ReservationCategory,
		New:        reservation.New,
		Events:     events,
		MaxRetries: maxRetries,
	})
}
