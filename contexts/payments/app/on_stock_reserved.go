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
	v, err := a.recordStockReserved(ctx, e, cause)
	if err != nil {
		return err
	}
	return a.settleFrom(ctx, e.OrderID, v)
}

// NoteStockReserved records what OnStockReserved records (the reservation,
// and the capture intent when the amount due is already known) and returns
// the rest, the payment's settlement, as NoteOrderPlaced does.
func (a *Application) NoteStockReserved(ctx context.Context, e events.StockReserved, cause Cause) (rest func(context.Context) error, err error) {
	ctx = cause.with(ctx)
	unlock := a.locks.lock(e.OrderID)
	defer unlock()
	if _, err := a.recordStockReserved(ctx, e, cause); err != nil {
		return nil, err
	}
	return a.settleLater(cause, e.OrderID), nil
}

func (a *Application) recordStockReserved(ctx context.Context, e events.StockReserved, cause Cause) (view, error) {
	// The first of the order's facts creates its payment; the second
	// usually finds it in the cache, so a new stream is the better guess.
	v, err := a.update(eventstore.WithNewStream(eventstore.WithEventIDSource(ctx, cause.EventID)), e.OrderID, func(p *payment.Payment) error {
		p.NoteStockReserved(cause.EventID)
		return startCaptureIfDue(p, e.OrderID)
	})
	if err != nil {
		return v, fmt.Errorf("stock reserved %s: %w", e.OrderID, err)
	}
	return v, nil
}

// settleLater is the rest of a fact noted without settling: the order's
// settlement, under its lock, from the payment as it is by then (another
// event of the order may have moved it on meanwhile).
func (a *Application) settleLater(cause Cause, orderID string) func(context.Context) error {
	return func(ctx context.Context) error { return a.Settle(cause.with(ctx), orderID) }
}
