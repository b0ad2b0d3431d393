package app

import (
	"context"
	"fmt"

	"github.com/troupe-dev/troupe/contexts/payments/domain/payment"
	"github.com/troupe-dev/troupe/shared/events"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

// OnOrderPlaced records the amount due for the order and captures it if the
// stock is already reserved. Handling the same event again acts once.
func (a *Application) OnOrderPlaced(ctx context.Context, e events.OrderPlaced, cause Cause) error {
	ctx = cause.with(ctx)
	unlock := a.locks.lock(e.OrderID)
	defer unlock()
	v, err := a.recordOrderPlaced(ctx, e, cause)
	if err != nil {
		return err
	}
	return a.settleFrom(ctx, e.OrderID, v)
}

// NoteOrderPlaced records what OnOrderPlaced records (the amount due, and
// the capture intent when the stock is already reserved) and returns the
// rest, the payment's settlement (Settle): OnOrderPlaced is
// NoteOrderPlaced, then rest. Once it has returned without error the fact
// is durable, so rest may run later: if it never runs, or fails, the
// recovery (ports.Recovery) or the order's next event settles the payment.
func (a *Application) NoteOrderPlaced(ctx context.Context, e events.OrderPlaced, cause Cause) (rest func(context.Context) error, err error) {
	ctx = cause.with(ctx)
	unlock := a.locks.lock(e.OrderID)
	defer unlock()
	if _, err := a.recordOrderPlaced(ctx, e, cause); err != nil {
		return nil, err
	}
	return a.settleLater(cause, e.OrderID), nil
}

func (a *Application) recordOrderPlaced(ctx context.Context, e events.OrderPlaced, cause Cause) (view, error) {
	currency := e.Currency
	if currency == "" {
		currency = a.currency
	}
	// The first of the order's facts creates its payment; the second
	// usually finds it in the cache, so a new stream is the better guess.
	v, err := a.update(eventstore.WithNewStream(eventstore.WithEventIDSource(ctx, cause.EventID)), e.OrderID, func(p *payment.Payment) error {
		if err := p.RecordOrder(cause.EventID, e.CustomerID, e.TotalCents, currency, payment.Method(e.PaymentMethod)); err != nil {
			return err
		}
		return startCaptureIfDue(p, e.OrderID)
	})
	if err != nil {
		return v, fmt.Errorf("order placed %s: %w", e.OrderID, err)
	}
	return v, nil
}
