package ports

import (
	"context"
	"log/slog"

	"github.com/troupe-dev/troupe/contexts/catalog/app"
	"github.com/troupe-dev/troupe/contexts/catalog/domain/reservation"
	"github.com/troupe-dev/troupe/shared/events"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
	"github.com/troupe-dev/troupe/shared/platform/messaging"
)

// SubscriberName is the catalog's consumer group. Renaming it re-consumes
// all of ordering's history.
const SubscriberName = "catalog"

// InFlight bounds, for reservations and for commits each, how many run
// on after their event was handled (see RegisterHandlers). When that many
// are running, the next such event waits for one to end, so a backlog
// holds its partition as it did before, instead of growing.
const InFlight = 16

// RegisterHandlers makes sub react to ordering's events: order_placed
// reserves stock, order_confirmed commits it, order_cancelled releases it.
// Each passes the event's deterministic id as the cause, so a redelivery
// acts once.
//
// order_placed and order_confirmed are handled once the reservation, or
// the commit, is durable as an intent on the order's reservation stream;
// the product writes and the outcome run after, at most InFlight of each
// at once, so they no longer hold the partition's next order. One whose
// rest fails or is cut short (a stop, a crash) is finished by the
// recovery (Recovery), which resumes every intent it has not seen
// finished, or by a redelivery. Any later event of the order (a
// cancellation) first carries an unfinished reservation to its outcome,
// as it always did for one interrupted by a crash.
func RegisterHandlers(sub *messaging.Subscriber, a *app.Application, log *slog.Logger) {
	reservations := messaging.NewContinuations(InFlight, "catalog: reserving an order's stock", log)
	commits := messaging.NewContinuations(InFlight, "catalog: committing an order's stock", log)
	messaging.Handle(sub, func(ctx context.Context, e events.OrderPlaced, m messaging.Meta) error {
		lines := make([]reservation.Line, len(e.Lines))
		for i, l := range e.Lines {
			lines[i] = reservation.Line{SKU: l.SKU, Quantity: int64(l.Quantity)}
		}
		ctx = withMeta(ctx, m)
		rest, err := a.BeginReserveStock(ctx, app.ReserveStock{OrderID: e.OrderID, Lines: lines, Cause: m.EventID})
		if err != nil {
			return err
		}
		return reservations.Go(ctx, e.OrderID, rest)
	})
	messaging.Handle(sub, func(ctx context.Context, e events.OrderConfirmed, m messaging.Meta) error {
		ctx = withMeta(ctx, m)
		rest, err := a.BeginCommitStock(ctx, app.CommitStock{OrderID: e.OrderID, Cause: m.EventID})
		if err != nil {
			return err
		}
		return commits.Go(ctx, e.OrderID, rest)
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
