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
	currency := e.Currency
	if currency == "" {
		currency = a.currency
	}
	unlock := a.locks.lock(e.OrderID)
	defer unlock()
	// The first of the order's facts creates its payment; the second
	// usually finds it in the cache, so a new stream is the better guess.
	v, err := a.update(eventstore.WithNewStream(eventstore.WithEventIDSource(ctx, cause.EventID)), e.OrderID, func(p *payment.Payment) error {
		if err := p.RecordOrder(cause.EventID, e.CustomerID, e.TotalCents, currency, payment.Method(e.PaymentMethod)); err != nil {
			return err
		}
		return startCaptureIfDue(p, e.OrderID)
	})
	if err != nil {
		return fmt.Errorf("order placed %s: %w", e.OrderID, err)
	}
	return a.settleFrom(ctx, e.OrderID, v)
}
