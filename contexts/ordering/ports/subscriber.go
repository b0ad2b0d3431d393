package ports

import (
	"context"

	"github.com/troupe-dev/troupe/contexts/ordering/app"
	"github.com/troupe-dev/troupe/shared/events"
	"github.com/troupe-dev/troupe/shared/platform/messaging"
)

// SubscriberName is ordering's consumer group on catalog.events and
// payments.events. Renaming it re-consumes all history: never do.
const SubscriberName = "ordering"

// NewSubscriber returns ordering's subscriber: the price book from
// catalog's product_listed / product_repriced, and the saga's reactions to
// stock_reserved, stock_reservation_failed, payment_captured and
// payment_failed. Each handler is idempotent (see app's policies).
func NewSubscriber(a *app.App, cfg messaging.SubscriberConfig) (*messaging.Subscriber, error) {
	sub, err := messaging.NewSubscriber(SubscriberName, cfg)
	if err != nil {
		return nil, err
	}
	messaging.Handle(sub, func(ctx context.Context, e events.ProductListed, m messaging.Meta) error {
		return a.OnProductListed(ctx, e.SKU, e.Name, e.PriceCents, e.Currency, m.Revision, causeOf(m))
	})
	messaging.Handle(sub, func(ctx context.Context, e events.ProductRepriced, m messaging.Meta) error {
		return a.OnProductRepriced(ctx, e.SKU, e.PriceCents, e.Currency, m.Revision, causeOf(m))
	})
	messaging.Handle(sub, func(ctx context.Context, e events.StockReserved, m messaging.Meta) error {
		return a.OnStockReserved(ctx, e.OrderID, causeOf(m))
	})
	messaging.Handle(sub, func(ctx context.Context, e events.StockReservationFailed, m messaging.Meta) error {
		return a.OnStockReservationFailed(ctx, e.OrderID, e.Reason, causeOf(m))
	})
	messaging.Handle(sub, func(ctx context.Context, e events.PaymentCaptured, m messaging.Meta) error {
		return a.OnPaymentCaptured(ctx, e.OrderID, causeOf(m))
	})
	messaging.Handle(sub, func(ctx context.Context, e events.PaymentFailed, m messaging.Meta) error {
		return a.OnPaymentFailed(ctx, e.OrderID, causeOf(m))
	})
	return sub, nil
}

func causeOf(m messaging.Meta) app.Cause {
	return app.Cause{EventID: m.EventID, CorrelationID: m.CorrelationID, Traceparent: m.Traceparent}
}
