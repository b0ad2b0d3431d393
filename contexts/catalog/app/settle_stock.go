package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/troupe-dev/troupe/contexts/catalog/domain/reservation"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

// CommitStock is the policy on ordering's order_confirmed: the order's
// reserved stock leaves for good.
type CommitStock struct {
	OrderID string
	// Cause is the id of the source event.
	Cause string
}

// ReleaseStock is the policy on ordering's order_cancelled: the order's
// reserved stock goes back on sale. A cancel for an order never reserved
// releases nothing, and one that arrives before the order was placed keeps
// it from ever being reserved.
type ReleaseStock struct {
	OrderID string
	// Cause is the id of the source event.
	Cause string
}

// CommitStock runs the policy; it is idempotent per Cause and per order.
func (a *Application) CommitStock(ctx context.Context, cmd CommitStock) error {
	if err := a.settle(ctx, cmd.OrderID, cmd.Cause, (*reservation.Reservation).Confirm); err != nil {
		return fmt.Errorf("commit stock for %s: %w", cmd.OrderID, err)
	}
	return nil
}

// ReleaseStock runs the policy; it is idempotent per Cause and per order.
func (a *Application) ReleaseStock(ctx context.Context, cmd ReleaseStock) error {
	if err := a.settle(ctx, cmd.OrderID, cmd.Cause, (*reservation.Reservation).Cancel); err != nil {
		return fmt.Errorf("release stock for %s: %w", cmd.OrderID, err)
	}
	return nil
}

// settle first carries a reservation still in flight to its outcome (an
// interrupted attempt, or one running concurrently), then records the
// order's fate and carries that out on the products.
func (a *Application) settle(ctx context.Context, orderID, cause string, decide func(*reservation.Reservation, string) error) error {
	ctx = eventstore.WithEventIDSource(eventstore.WithCausation(ctx, cause), cause)
	for range maxSteps {
		if err := a.ResumeReservation(ctx, orderID); err != nil {
			return err
		}
		s, err := a.update(ctx, orderID, func(r *reservation.Reservation) error {
			return decide(r, cause)
		})
		if errors.Is(err, reservation.ErrUndecided) {
			continue // requested again in between: resume and retry
		}
		if err != nil {
			return err
		}
		return a.resume(ctx, orderID, s)
	}
	return fmt.Errorf("order %s: %w after %d attempts", orderID, reservation.ErrUndecided, maxSteps)
}
