package app

import (
	"context"
	"fmt"

	"github.com/troupe-dev/troupe/contexts/payments/domain/payment"
	"github.com/troupe-dev/troupe/shared/events"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

// OnOrderPlaced records the amount due for the order and captures it if the
// stock is already reserved: NoteOrderPlaced, then its rest. Handling the
// same event again acts once.
func (a *Application) OnOrderPlaced(ctx context.Context, e events.OrderPlaced, cause Cause) error {
	rest, err := a.NoteOrderPlaced(ctx, e, cause)
	if err != nil {
		return err
	}
	return rest(ctx)
}

// NoteOrderPlaced records the amount due, and the capture intent when the
// stock is already reserved, and returns the rest, the payment's
// settlement (Settle). Once it has returned without error the fact is
// durable, so rest may run later: if it never runs, or fails, the
// recovery (ports.Recovery) or the order's next event settles the payment.
func (a *Application) NoteOrderPlaced(ctx context.Context, e events.OrderPlaced, cause Cause) (rest func(context.Context) error, err error) {
	currency := e.Currency
	if currency == "" {
		currency = a.currency
	}
	return a.note(ctx, e.OrderID, cause, "order placed", func(p *payment.Payment) error {
		return p.RecordOrder(cause.EventID, e.CustomerID, e.TotalCents, currency, payment.Method(e.PaymentMethod))
	})
}

// note records fact on the order's payment, with the capture intent when
// the fact makes the capture due, under the order's lock, and returns the
// settlement to run after.
func (a *Application) note(ctx context.Context, orderID string, cause Cause, what string, fact func(*payment.Payment) error) (func(context.Context) error, error) {
	unlock := a.locks.lock(orderID)
	defer unlock()
	// The first of the order's facts creates its payment; the second
	// usually finds it in the cache, so a new stream is the better guess.
	ctx = eventstore.WithNewStream(eventstore.WithEventIDSource(cause.with(ctx), cause.EventID))
	if _, err := a.update(ctx, orderID, func(p *payment.Payment) error {
		if err := fact(p); err != nil {
			return err
		}
		return startCaptureIfDue(p, orderID)
	}); err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, orderID, err)
	}
	// The settlement runs under the lock again, from the payment as it is
	// by then: another event of the order may have moved it on.
	return func(ctx context.Context) error { return a.Settle(cause.with(ctx), orderID) }, nil
}
