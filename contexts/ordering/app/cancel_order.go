package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/troupe-dev/troupe/contexts/ordering/domain/order"
)

// CancelOrder is a customer asking to cancel their order.
type CancelOrder struct {
	OrderID    string
	CustomerID string
}

// CancelOrder cancels the order with reason customer_requested: allowed
// until it is confirmed (ErrConflict after), a no-op when already cancelled,
// ErrForbidden for another customer's order and ErrNotFound for an unknown
// one.
func (a *App) CancelOrder(ctx context.Context, cmd CancelOrder) (Written, error) {
	w, err := a.cfg.Orders.Update(eventstoreCorrelation(ctx, cmd.OrderID), cmd.OrderID, func(o *order.Order) error {
		return o.CancelByCustomer(cmd.CustomerID, "")
	})
	switch {
	case errors.Is(err, order.ErrNotPlaced):
		return Written{}, fmt.Errorf("order %s: %w", cmd.OrderID, ErrNotFound)
	case errors.Is(err, order.ErrNotOwner):
		return Written{}, fmt.Errorf("order %s: %w", cmd.OrderID, ErrForbidden)
	case errors.Is(err, order.ErrAlreadyConfirmed):
		return Written{}, fmt.Errorf("order %s is confirmed: %w", cmd.OrderID, ErrConflict)
	case err != nil:
		return Written{}, fmt.Errorf("cancel order %s: %w", cmd.OrderID, err)
	}
	return w, nil
}
