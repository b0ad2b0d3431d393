package ports

import (
	"context"

	"github.com/troupe-dev/troupe/contexts/catalog/app"
	"github.com/troupe-dev/troupe/contexts/catalog/domain/reservation"
	"github.com/troupe-dev/troupe/shared/events"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
	"github.com/troupe-dev/troupe/shared/platform/messaging"
)

// SubscriberName is the catalog's consumer group. Renaming it re-consumes
// all of ordering's history.
const SubscriberName = "catalog"

// RegisterHandlers makes sub react to ordering's events: order_placed
// reserves stock, order_confirmed commits it, order_cancelled releases it.
// Each passes the event's deterministic id as the cause, so a redelivery
// acts once.
func RegisterHandlers(sub *messaging.Subscriber, a *app.Application) {
	messaging.Handle(sub, func(ctx context.Context, e events.OrderPlaced, m messaging.Meta) error {
		lines := make([]reservation.Line, len(e.Lines))
		for i, l := range e.Lines {
			lines[i] = reservation.Line{SKU: l.SKU, Quantity: int64(l.Quantity)}
		}
		return a.ReserveStock(withMeta(ctx, m), app.ReserveStock{OrderID: e.OrderID, Lines: lines, Cause: m.EventID})
	})
	messaging.Handle(sub, func(ctx context.Context, e events.OrderConfirmed, m messaging.Meta) error {
		return a.CommitStock(withMeta(ctx, m), app.CommitStock{OrderID: e.OrderID, Cause: m.EventID})
	})
	messaging.Handle(sub, func(ctx context.Context, e events.OrderCancelled, m messaging.Meta) error {
		return a.ReleaseStock(withMeta(ctx, m), app.ReleaseStock{OrderID: e.OrderID, Cause: m.EventID})
	})
}

// withMeta carries the saga's correlation id and trace into what the
// handler appends.
func withMeta(ctx context.Context, m messaging.Meta) context.Context {
	if m.CorrelationID != "" {
		ctx = eventstore.WithCorrelation(ctx, m.CorrelationID)
	}
	if m.Traceparent != "" {
		ctx = eventstore.WithTraceparent(ctx, m.Traceparent)
	}
	return ctx
}
