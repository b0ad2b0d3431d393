package ports

import (
	"context"
	"log/slog"

	"github.com/troupe-dev/troupe/contexts/payments/app"
	"github.com/troupe-dev/troupe/shared/events"
	"github.com/troupe-dev/troupe/shared/platform/messaging"
)

// Policies are the reactions the subscriptions call. The two facts that
// lead to a capture are noted, and their settlement returned to run after
// the handler (see RegisterHandlers).
type Policies interface {
	NoteOrderPlaced(ctx context.Context, e events.OrderPlaced, cause app.Cause) (rest func(context.Context) error, err error)
	NoteStockReserved(ctx context.Context, e events.StockReserved, cause app.Cause) (rest func(context.Context) error, err error)
	OnOrderCancelled(ctx context.Context, e events.OrderCancelled, cause app.Cause) error
}

// SettlementsInFlight bounds the settlements (wallet debit or card
// charge, and its outcome) that run after the fact that made them due was
// handled. When that many run, the next such event waits for one to end.
const SettlementsInFlight = 16

// SubscriberName is payments' consumer group: stable, since renaming it
// would re-consume all history as a new subscriber.
const SubscriberName = "payments"

// RegisterHandlers subscribes p to ordering's placements and cancellations
// and catalog's reservations. Each handler passes the event's deterministic
// id as the cause, so a redelivery acts once.
//
// A placement or a reservation is handled once the fact (and the capture
// intent, when the fact makes the capture due) is durable; the settlement
// runs after, at most SettlementsInFlight at once, so neither a wallet's
// writes nor the card gateway's latency holds the partition's next event.
// A settlement that fails or is cut short (a stop, a crash) is finished
// by the recovery (Recovery), which settles every payment it has not seen
// settled, or by the order's next event. Cancellations settle (refund)
// before they are acknowledged, as before.
func RegisterHandlers(sub *messaging.Subscriber, p Policies, log *slog.Logger) {
	settlements := messaging.NewContinuations(SettlementsInFlight, "payments: settling an order's payment", log)
	messaging.Handle(sub, func(ctx context.Context, e events.OrderPlaced, m messaging.Meta) error {
		rest, err := p.NoteOrderPlaced(ctx, e, causeOf(m))
		if err != nil {
			return err
		}
		return settlements.Go(ctx, e.OrderID, rest)
	})
	messaging.Handle(sub, func(ctx context.Context, e events.StockReserved, m messaging.Meta) error {
		rest, err := p.NoteStockReserved(ctx, e, causeOf(m))
		if err != nil {
			return err
		}
		return settlements.Go(ctx, e.OrderID, rest)
	})
	messaging.Handle(sub, func(ctx context.Context, e events.OrderCancelled, m messaging.Meta) error {
		return p.OnOrderCancelled(ctx, e, causeOf(m))
	})
}

func causeOf(m messaging.Meta) app.Cause {
	return app.Cause{EventID: m.EventID, CorrelationID: m.CorrelationID, Traceparent: m.Traceparent}
}
