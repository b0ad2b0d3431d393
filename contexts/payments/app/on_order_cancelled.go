package app

import (
	"context"
	"fmt"

	"github.com/troupe-dev/troupe/contexts/payments/domain/payment"
	"github.com/troupe-dev/troupe/shared/events"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

// OnOrderCancelled notes the cancellation, so no capture starts from now
// on, and refunds a capture that already happened (once).
func (a *Application) OnOrderCancelled(ctx context.Context, e events.OrderCancelled, cause Cause) error {
	ctx = cause.with(ctx)
	unlock := a.locks.lock(e.OrderID)
	defer unlock()
	v, err := a.update(eventstore.WithEventIDSource(ctx, cause.EventID), e.OrderID, func(p *payment.Payment) error {
		p.NoteCancelled(cause.EventID)
		return nil
	})
	if err != nil {
		return fmt.Errorf("order cancelled %s: %w", e.OrderID, err)
	}
	return a.settleFrom(ctx, e.OrderID, v)
}
