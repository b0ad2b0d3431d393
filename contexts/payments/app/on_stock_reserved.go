package app

import (
	"context"

	"github.com/troupe-dev/troupe/contexts/payments/domain/payment"
	"github.com/troupe-dev/troupe/shared/events"
)

// OnStockReserved notes the order's reservation and captures if the amount
// due is already known: NoteStockReserved, then its rest. It may arrive
// before the order's placement.
func (a *Application) OnStockReserved(ctx context.Context, e events.StockReserved, cause Cause) error {
	rest, err := a.NoteStockReserved(ctx, e, cause)
	if err != nil {
		return err
	}
	return rest(ctx)
}

// NoteStockReserved records the reservation, and the capture intent when
// the amount due is already known, and returns the rest, the payment's
// settlement, as NoteOrderPlaced does.
func (a *Application) NoteStockReserved(ctx context.Context, e events.StockReserved, cause Cause) (rest func(context.Context) error, err error) {
	return a.note(ctx, e.OrderID, cause, "stock reserved", func(p *payment.Payment) error {
		p.NoteStockReserved(cause.EventID)
		return nil
	})
}
