package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/troupe-dev/troupe/contexts/ordering/domain/order"
)

// The policies below react to catalog's and payments' saga events. Each is
// idempotent: the order records the event id it acted on and ignores a
// repeat, and the appended event ids derive from it, so a redelivery never
// acts twice. An event for an order this context never placed is logged and
// dropped (returning an error would only dead-letter it).

// OnStockReserved marks the order RESERVED.
func (a *App) OnStockReserved(ctx context.Context, orderID string, cause Cause) error {
	return a.react(ctx, "stock_reserved", orderID, cause, func(o *order.Order) error {
		return o.MarkReserved(cause.EventID)
	})
}

// OnStockReservationFailed cancels the order with catalog's reason
// (out_of_stock or unknown_product).
func (a *App) OnStockReservationFailed(ctx context.Context, orderID, reason string, cause Cause) error {
	r, ok := order.ParseReason(reason)
	if !ok || (r != order.ReasonOutOfStock && r != order.ReasonUnknownProduct) {
		return fmt.Errorf("stock_reservation_failed for %s: unknown reason %q", orderID, reason)
	}
	return a.react(ctx, "stock_reservation_failed", orderID, cause, func(o *order.Order) error {
		return o.Cancel(r, cause.EventID)
	})
}

// OnPaymentCaptured confirms the order; after a cancellation it does
// nothing (payments refunds a late capture itself).
func (a *App) OnPaymentCaptured(ctx context.Context, orderID string, cause Cause) error {
	return a.react(ctx, "payment_captured", orderID, cause, func(o *order.Order) error {
		return o.Confirm(cause.EventID)
	})
}

// OnPaymentFailed cancels the order with reason payment_failed.
func (a *App) OnPaymentFailed(ctx context.Context, orderID string, cause Cause) error {
	return a.react(ctx, "payment_failed", orderID, cause, func(o *order.Order) error {
		return o.Cancel(order.ReasonPaymentFailed, cause.EventID)
	})
}

func (a *App) react(ctx context.Context, what, orderID string, cause Cause, fn func(*order.Order) error) error {
	_, err := a.cfg.Orders.Update(cause.under(ctx), orderID, fn)
	switch {
	case errors.Is(err, order.ErrNotPlaced):
		a.cfg.Logger.WarnContext(ctx, "ordering: "+what+" for an unknown order, ignored", "order", orderID, "event", cause.EventID)
		return nil
	case errors.Is(err, order.ErrAlreadyConfirmed):
		// Only a cancellation is refused this way; a confirmed order is final.
		a.cfg.Logger.WarnContext(ctx, "ordering: "+what+" after confirmation, ignored", "order", orderID, "event", cause.EventID)
		return nil
	case err != nil:
		return fmt.Errorf("%s for order %s: %w", what, orderID, err)
	}
	return nil
}
