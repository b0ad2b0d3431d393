package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/troupe-dev/troupe/contexts/catalog/domain/product"
	"github.com/troupe-dev/troupe/contexts/catalog/domain/reservation"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

// maxSteps bounds ResumeReservation's loop: each step moves the status
// forward (requested -> reserved|failed -> undone, committing ->
// committed, releasing -> released), so a handful always suffices.
const maxSteps = 8

// Steps of a reservation's work on products; each derives the ids of the
// events it appends from "<reservation stream>:<step>", so a resumed step
// appends the very same ids and the store sees a repeat, not new events.
// Outcomes get a step each: two attempts deciding differently never share
// an id.
const (
	stepReserve  = "reserve"
	stepUndo     = "undo"
	stepCommit   = "commit"
	stepRelease  = "release"
	stepReserved = "reserved"
	stepFailed   = "failed"
	stepUndone   = "undone"
	stepDone     = "done"
)

// snapshot is what ResumeReservation needs of a reservation.
type snapshot struct {
	stream string
	status reservation.Status
	lines  []reservation.Line
	undone bool
}

// ResumeReservation carries the reservation of orderID as far as it can go
// without a new command: a requested one is reserved on every product (or
// fails and gives back what it held), a committing or releasing one
// commits or releases every product, and the outcome is recorded on the
// reservation stream. It is idempotent and safe to run concurrently with
// itself for one order (products remember the orders they acted on; the
// outcome is one optimistic append), so redelivery, a restart and the
// recovery subscription all call it freely.
func (a *Application) ResumeReservation(ctx context.Context, orderID string) error {
	s, err := a.update(ctx, orderID, nil)
	if err != nil {
		return fmt.Errorf("load reservation %s: %w", orderID, err)
	}
	return a.resume(ctx, orderID, s)
}

// resume is ResumeReservation from s, the reservation as the caller's last
// update of it left it. Each step hands on the reservation as its own
// update left it, so no step reloads it.
func (a *Application) resume(ctx context.Context, orderID string, s snapshot) error {
	for range maxSteps {
		var (
			next snapshot
			err  error
		)
		switch {
		case s.status == reservation.StatusRequested:
			next, err = a.reserveLines(ctx, orderID, s)
		case s.status == reservation.StatusFailed && !s.undone:
			next, err = a.undoLines(ctx, orderID, s)
		case s.status == reservation.StatusCommitting:
			next, err = a.finish(ctx, orderID, s, stepCommit, (*product.Product).Commit, (*reservation.Reservation).MarkCommitted)
		case s.status == reservation.StatusReleasing:
			next, err = a.finish(ctx, orderID, s, stepRelease, (*product.Product).Release, (*reservation.Reservation).MarkReleased)
		default:
			return nil
		}
		if err != nil {
			return fmt.Errorf("resume reservation %s (%v): %w", orderID, s.status, err)
		}
		s = next
	}
	return fmt.Errorf("resume reservation %s: no outcome after %d steps", orderID, maxSteps)
}

// update runs fn (nil: nothing) in an update of the reservation of orderID
// and returns the reservation as it left it.
func (a *Application) update(ctx context.Context, orderID string, fn func(*reservation.Reservation) error) (snapshot, error) {
	var s snapshot
	res, err := a.reservations.Update(ctx, orderID, func(r *reservation.Reservation) error {
		if fn != nil {
			if err := fn(r); err != nil {
				return err
			}
		}
		s = snapshot{status: r.Status(), lines: r.Lines(), undone: r.Undone()}
		return nil
	})
	if err != nil {
		return s, err
	}
	s.stream = res.Stream
	return s, nil
}

// reserveLines holds every line, stopping at the first that cannot be held,
// then records the outcome. Nothing is given back before a failure is
// recorded: a concurrent attempt may have recorded success meanwhile, and
// whichever outcome was appended first is the one both follow.
func (a *Application) reserveLines(ctx context.Context, orderID string, s snapshot) (snapshot, error) {
	reason, failedSKU := "", ""
	pctx := eventstore.WithEventIDSource(ctx, s.stream+":"+stepReserve)
lines:
	for _, l := range s.lines {
		_, err := a.products.Update(pctx, l.SKU, func(p *product.Product) error {
			return p.Reserve(orderID, l.Quantity)
		})
		switch {
		case err == nil:
			continue
		case errors.Is(err, product.ErrOutOfStock):
			reason = reservation.ReasonOutOfStock
		case errors.Is(err, product.ErrNotListed), errors.Is(err, eventstore.ErrInvalidID):
			reason = reservation.ReasonUnknownProduct
		default:
			return s, fmt.Errorf("reserve %s: %w", l.SKU, err)
		}
		failedSKU = l.SKU
		break lines
	}
	step := stepReserved
	if reason != "" {
		step = stepFailed
	}
	return a.update(eventstore.WithEventIDSource(ctx, s.stream+":"+step), orderID, func(r *reservation.Reservation) error {
		if reason != "" {
			return r.MarkFailed(reason, failedSKU)
		}
		r.MarkReserved()
		return nil
	})
}

// undoLines gives back every line of a failed reservation. Products that
// never held the order void it, so a slower concurrent attempt cannot take
// stock for it afterwards.
func (a *Application) undoLines(ctx context.Context, orderID string, s snapshot) (snapshot, error) {
	return a.finish(ctx, orderID, s, stepUndo, (*product.Product).Release, (*reservation.Reservation).MarkUndone)
}

// finish applies act for orderID on every line's product, then records done
// on the reservation.
func (a *Application) finish(ctx context.Context, orderID string, s snapshot, step string,
	act func(*product.Product, string) error, done func(*reservation.Reservation)) (snapshot, error) {
	pctx := eventstore.WithEventIDSource(ctx, s.stream+":"+step)
	for _, l := range s.lines {
		if !product.ValidSKU(l.SKU) {
			continue // never a product, never held
		}
		_, err := a.products.Update(pctx, l.SKU, func(p *product.Product) error { return act(p, orderID) })
		if err != nil {
			return s, fmt.Errorf("%s %s: %w", step, l.SKU, err)
		}
	}
	return a.update(eventstore.WithEventIDSource(ctx, s.stream+":"+step+"-"+stepDone), orderID, func(r *reservation.Reservation) error {
		done(r)
		return nil
	})
}
