package ports

import (
	"context"

	"github.com/troupe-dev/troupe/contexts/payments/app"
	"github.com/troupe-dev/troupe/shared/events"
	"github.com/troupe-dev/troupe/shared/platform/messaging"
)

// Policies are the reactions the subscriptions call.
type Policies interface {
	OnOrderPlaced(ctx context.Context, e events.OrderPlaced, cause app.Cause) error
	OnStockReserved(ctx context.Context, e events.StockReserved, cause app.Cause) error
	OnOrderCancelled(ctx context.Context, e events.OrderCancelled, cause app.Cause) error
}

// SubscriberName is payments' consumer group: stable, since renaming it
// would re-consume all history as a new subscriber.
const SubscriberName = "payments"

// RegisterHandlers subscribes p to ordering's placements and cancellations
// and catalog's reservations. Each handler passes the event's deterministic
// id as the cause, so a redelivery acts once.
func RegisterHandlers(sub *messaging.Subscriber, p Policies) {
	messaging.Handle(sub, func(ctx context.Context, e events.OrderPlaced, m messaging.Meta) error {
		return p.OnOrderPlaced(ctx, e, causeOf(m))
	})
	messaging.Handle(sub, func(ctx context.Context, e events.StockReserved, m messaging.Meta) error {
		return p.OnStockReserved(ctx, e, causeOf(m))
	})
	messaging.Handle(sub, func(ctx context.Context, e events.OrderCancelled, m messaging.Meta) error {
		return p.OnOrderCancelled(ctx, e, causeOf(m))
	})
}

func causeOf(m messaging.Meta) app.Cause {
	return app.Cause{EventID: m.EventID, CorrelationID: m.CorrelationID, Traceparent: m.Traceparent}
}
