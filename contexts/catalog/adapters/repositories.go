package adapters

import (
	"encoding/json"

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
		// Every reservation of a hot SKU updates it again: keep it.
		Cache: &eventstore.CacheConfig{},
		Snapshots: &eventstore.SnapshotConfig[*product.Product]{
			Every:   ProductSnapshotEvery,
			Version: "product-v1",
			Marshal: func(p *product.Product) ([]byte, error) { return json.Marshal(p.Snapshot()) },
			Unmarshal: func(sku string, data []byte) (*product.Product, error) {
				var s product.Snapshot
				if err := json.Unmarshal(data, &s); err != nil {
					return nil, err
				}
				return product.FromSnapshot(sku, s), nil
			},
		},
	})
}

// ProductSnapshotEvery is how many events a product stream may grow by
// before the next write snapshots it.
const ProductSnapshotEvery = 200

// NewReservationRepository returns the repository of reservations over
// client.
func NewReservationRepository(client *esdb.Client, events *eventstore.Registry, maxRetries int) (*eventstore.Repository[*reservation.Reservation], error) {
	return eventstore.NewRepository(client, eventstore.RepositoryConfig[*reservation.Reservation]{
		Category:   ReservationCategory,
		New:        reservation.New,
		Events:     events,
		MaxRetries: maxRetries,
		// Each order's reservation is written three times in a row here.
		Cache: &eventstore.CacheConfig{},
	})
}
