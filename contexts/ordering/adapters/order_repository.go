package adapters

import (
	"context"
	"errors"
	"fmt"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/troupe-dev/troupe/contexts/ordering/app"
	"github.com/troupe-dev/troupe/contexts/ordering/domain/order"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

// OrderRepository stores orders in streams "ordering.order-<orderId>". It
// implements app.Orders and is safe for concurrent use.
type OrderRepository struct {
	repo *eventstore.Repository[*order.Order]
}

// NewOrderRepository returns the order repository over client.
func NewOrderRepository(client *esdb.Client, events *eventstore.Registry) (*OrderRepository, error) {
	repo, err := eventstore.NewRepository(client, eventstore.RepositoryConfig[*order.Order]{
		Category: OrderCategory, New: order.New, Events: events,
		// Placed here, then confirmed or cancelled here moments later.
		Cache: &eventstore.CacheConfig{},
	})
	if err != nil {
		return nil, err
	}
	return &OrderRepository{repo: repo}, nil
}

// Update implements app.Orders.
func (r *OrderRepository) Update(ctx context.Context, orderID string, fn func(*order.Order) error) (app.Written, error) {
	res, err := r.repo.Update(ctx, orderID, fn)
	if errors.Is(err, eventstore.ErrInvalidID) {
		return app.Written{}, fmt.Errorf("order %q: %w", orderID, app.ErrNotFound)
	}
	if err != nil {
		return app.Written{}, err
	}
	return app.Written{Stream: res.Stream, Revision: res.Revision, Appended: res.Appended}, nil
}

// Load returns order orderID and its stream revision, or app.ErrNotFound.
func (r *OrderRepository) Load(ctx context.Context, orderID string) (*order.Order, uint64, error) {
	o, rev, err := r.repo.Load(ctx, orderID)
	if errors.Is(err, eventstore.ErrNotFound) || errors.Is(err, eventstore.ErrInvalidID) {
		return nil, 0, fmt.Errorf("order %q: %w", orderID, app.ErrNotFound)
	}
	return o, rev, err
}

// Stream returns the stream of orderID.
func (r *OrderRepository) Stream(orderID string) string { return r.repo.Stream(orderID) }
