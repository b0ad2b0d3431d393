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
	rest, err := a.BeginCommitStock(ctx, cmd)
	if err != nil {
		return err
	}
	return rest(ctx)
}

// BeginCommitStock does what CommitStock does first: it carries a
// reservation still in flight to its outcome and records the order's
// confirmation on it, the intent to commit. It returns the rest, which
// commits the held stock on each product and records the reservation's
// end: CommitStock is BeginCommitStock, then rest. Once it has returned
// without error the commit is durable as an intent, so rest may run
// later and elsewhere: if it never runs, or fails, the recovery
// (ports.Recovery) or a redelivery finishes it. rest is idempotent.
func (a *Application) BeginCommitStock(ctx context.Context, cmd CommitStock) (rest func(context.Context) error, err error) {
	s, err := a.decide(ctx, cmd.OrderID, cmd.Cause, (*reservation.Reservation).Confirm)
	if err != nil {
		return nil, fmt.Errorf("commit stock for %s: %w", cmd.OrderID, err)
	}
	return a.restFrom("commit stock", cmd.OrderID, cmd.Cause, s), nil
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
	s, err := a.decide(ctx, orderID, cause, decide)
	if err != nil {
		return err
	}
	return a.resume(settleContext(ctx, cause), orderID, s)
}

// decide is settle up to the order's fate recorded on the reservation; it
// returns the reservation as that left it.
func (a *Application) decide(ctx context.Context, orderID, cause string, decide func(*reservation.Reservation, string) error) (snapshot, error) {
	ctx = settleContext(ctx, cause)
	for range maxSteps {
		if err := a.ResumeReservation(ctx, orderID); err != nil {
			return snapshot{}, err
		}
		s, err := a.update(ctx, orderID, func(r *reservation.Reservation) error {
			return decide(r, cause)
		})
		if errors.Is(err, reservation.ErrUndecided) {
			continue // requested again in between: resume and retry
		}
		if err != nil {
			return snapshot{}, err
		}
		return s, nil
	}
	return snapshot{}, fmt.Errorf("order %s: %w after %d attempts", orderID, reservation.ErrUndecided, maxSteps)
}

// restFrom is the rest of a step begun by the event cause: resuming the
// order's reservation from s, as that step left it.
func (a *Application) restFrom(what, orderID, cause string, s snapshot) func(context.Context) error {
	return func(ctx context.Context) error {
		if err := a.resume(settleContext(ctx, cause), orderID, s); err != nil {
			return fmt.Errorf("%s for %s: %w", what, orderID, err)
		}
		return nil
	}
}

// settleContext is ctx for the writes caused by the event cause: caused
// by it, with event ids derived from it.
func settleContext(ctx context.Context, cause string) context.Context {
	return eventstore.WithEventIDSource(eventstore.WithCausation(ctx, cause), cause)
}
