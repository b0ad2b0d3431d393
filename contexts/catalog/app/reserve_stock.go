package app

import (
	"context"
	"fmt"

	"github.com/troupe-dev/troupe/contexts/catalog/domain/reservation"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

// ReserveStock is the policy on ordering's order_placed: hold every line
// of the order, all or none.
type ReserveStock struct {
	OrderID string
	Lines   []reservation.Line
	// Cause is the id of the source event (deterministic across
	// redeliveries); the reservation remembers it.
	Cause string
}

// ReserveStock records the reservation intent on the order's reservation
// stream, then resumes it to an outcome (see ResumeReservation). A
// redelivery of the same event records nothing new and only finishes
// what an interrupted earlier delivery left; an order cancelled before it
// was placed is never reserved.
func (a *Application) ReserveStock(ctx context.Context, cmd ReserveStock) error {
	rest, err := a.BeginReserveStock(ctx, cmd)
	if err != nil {
		return err
	}
	return rest(ctx)
}

// BeginReserveStock records the reservation intent, as ReserveStock does
// first, and returns the rest, which holds the lines on the products and
// records the outcome: ReserveStock is BeginReserveStock, then rest. Once
// it has returned without error the reservation is durable as an intent,
// so rest may run later and elsewhere: if it never runs, or fails, the
// recovery (ports.Recovery) or a redelivery finishes it. rest is
// idempotent and safe to run beside any other driver of the reservation.
func (a *Application) BeginReserveStock(ctx context.Context, cmd ReserveStock) (rest func(context.Context) error, err error) {
	ictx := settleContext(ctx, cmd.Cause)
	// The order's placement is what creates its reservation: expect a new
	// stream (a redelivery finds out at the append).
	s, err := a.update(eventstore.WithNewStream(ictx), cmd.OrderID, func(r *reservation.Reservation) error {
		return r.Request(cmd.Lines, cmd.Cause)
	})
	if err != nil {
		return nil, fmt.Errorf("reserve stock for %s: %w", cmd.OrderID, err)
	}
	return a.restFrom("reserve stock", cmd.OrderID, cmd.Cause, s), nil
}
