package adapters

import (
	"context"
	"errors"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/troupe-dev/troupe/contexts/ordering/app"
	"github.com/troupe-dev/troupe/contexts/ordering/domain/pricebook"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

// PriceBookRepository stores the price book as one stream per SKU,
// "ordering.pricebook-<sku>", so it is durable and survives restarts
// without a rebuild. It implements app.Prices and is safe for concurrent
// use.
type PriceBookRepository struct {
	repo *eventstore.Repository[*pricebook.Entry]
}

// NewPriceBookRepository returns the price-book repository over client.
func NewPriceBookRepository(client *esdb.Client, events *eventstore.Registry) (*PriceBookRepository, error) {
	repo, err := eventstore.NewRepository(client, eventstore.RepositoryConfig[*pricebook.Entry]{
		Category: PriceBookCategory, New: pricebook.New, Events: events,
		Cache: &eventstore.CacheConfig{},
	})
	if err != nil {
		return nil, err
	}
	return &PriceBookRepository{repo: repo}, nil
}

// Update implements app.Prices.
func (r *PriceBookRepository) Update(ctx context.Context, sku string, fn func(*pricebook.Entry) error) (app.Written, error) {
	res, err := r.repo.Update(ctx, sku, fn)
	if err != nil {
		return app.Written{}, err
	}
	return app.Written{Stream: res.Stream, Revision: res.Revision, Appended: res.Appended}, nil
}

// Load implements app.Prices: a SKU never listed is an unlisted entry.
func (r *PriceBookRepository) Load(ctx context.Context, sku string) (*pricebook.Entry, error) {
	e, _, err := r.repo.Load(ctx, sku)
	if errors.Is(err, eventstore.ErrNotFound) || errors.Is(err, eventstore.ErrInvalidID) {
		return pricebook.New(sku), nil
	}
	return e, err
}
