package app

import (
	"context"
	"fmt"

	"github.com/troupe-dev/troupe/contexts/payments/domain/payment"
	"github.com/troupe-dev/troupe/shared/events"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

// OnStockReserved notes the order's reservation and captures if the amount
// due is already known. It may arrive before the order's placement.
func (a *Application) OnStockReserved(ctx context.Context, e events.StockReserved, cause Cause) error {
	ctx = cause.with(ctx)
	unlock := a.locks.lock(e.OrderID)
	defer unlock()
	// The first of the order's facts creates its payment; the second
	// usually finds it in the cache, so a new stream is the better guess.
	v, err := a.update(eventstore.WithNewStream(eventstore.WithEventIDSource(ctx, cause.EventID)), e.OrderID, func(p *payment.Payment) error {
		p.NoteStockReserved(cause.EventID)
		return startCaptureIfDue(p, e.OrderID)
	})
	if err != nil {
		return fmt.Errorf("stock reserved %s: %w", e.OrderID, err)
	}
	return a.settleFrom(ctx, e.OrderID, v)
}
