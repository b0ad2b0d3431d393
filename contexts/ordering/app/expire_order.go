package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/troupe-dev/troupe/contexts/ordering/domain/order"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

// ExpireOrder cancels the order with reason timeout if it is still not
// confirmed at its deadline. It returns the deadline and done=false when the
// clock has not reached it yet (the caller tries again then), done=true
// once nothing is left to do. Several processes may expire one order at
// once: the append ids derive from the order, so only one cancellation is
// written.
func (a *App) ExpireOrder(ctx context.Context, orderID string) (deadline time.Time, done bool, err error) {
	source := "timeout-" + orderID
	ctx = eventstore.WithEventIDSource(eventstore.WithCausation(eventstoreCorrelation(ctx, orderID), source), source)
	_, err = a.cfg.Orders.Update(ctx, orderID, func(o *order.Order) error {
		deadline = o.Deadline()
		return o.Expire(a.cfg.Now(), source)
	})
	switch {
	case errors.Is(err, order.ErrDeadlineNotReached):
		return deadline, false, nil
	case errors.Is(err, order.ErrNotPlaced):
		return time.Time{}, true, nil
	case err != nil:
		return deadline, false, fmt.Errorf("expire order %s: %w", orderID, err)
	}
	return deadline, true, nil
}

// eventstoreCorrelation correlates a command on an order with its saga
// (the order id) unless ctx already carries a correlation.
func eventstoreCorrelation(ctx context.Context, orderID string) context.Context {
	if eventstore.MetadataFrom(ctx).CorrelationID != "" {
		return ctx
	}
	return eventstore.WithCorrelation(ctx, orderID)
}
