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
	ctx = eventstore.WithEventIDSource(eventstore.WithCausation(ctx, cmd.Cause), cmd.Cause)
	// The order's placement is what creates its reservation: expect a new
	// stream (a redelivery finds out at the append).
	s, err := a.update(eventstore.WithNewStream(ctx), cmd.OrderID, func(r *reservation.Reservation) error {
		return r.Request(cmd.Lines, cmd.Cause)
	})
	if err != nil {
		return fmt.Errorf("reserve stock for %s: %w", cmd.OrderID, err)
	}
	return a.resume(ctx, cmd.OrderID, s)
}
