package ports

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/troupe-dev/troupe/contexts/catalog/adapters"
	"github.com/troupe-dev/troupe/contexts/catalog/app"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

// RecoveryName is the checkpoint name of the recovery subscription.
// Renaming it re-examines every reservation once (harmless, just slow).
const RecoveryName = "catalog-reservations"

// RecoveryConfig configures a Recovery.
type RecoveryConfig struct {
	// EventStore is read through. Required.
	EventStore *esdb.Client
	// App resumes reservations. Required.
	App *app.Application
	// Checkpoints stores the position; default stream checkpoints in
	// EventStore.
	Checkpoints eventstore.CheckpointStore
	// Delay is how old an intent must be before the recovery looks at it:
	// younger ones are being carried out by the handler that recorded them,
	// and a second driver would only add write conflicts. Default 2s.
	Delay time.Duration
	// Attempts bounds the tries to resume one reservation before it is
	// logged and left to the next redelivery or restart. Default 3.
	Attempts int
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// Recovery resumes reservations that were started but not finished (a
// crash between the intent and the last product write): a catch-up
// subscription over the catalog.reservation- streams that, for each intent
// event, resumes that reservation (a no-op when it was finished). On start
// it catches up from its checkpoint, so everything a crashed process left
// is resumed; afterwards it trails live intents by Delay as a safety net.
type Recovery struct {
	cfg RecoveryConfig
	sub *eventstore.Subscription
}

// NewRecovery returns a Recovery, or the config's validation error.
func NewRecovery(cfg RecoveryConfig) (*Recovery, error) {
	if cfg.EventStore == nil || cfg.App == nil {
		return nil, errors.New("catalog recovery: EventStore and App are required")
	}
	if cfg.Checkpoints == nil {
		cfg.Checkpoints = eventstore.NewStreamCheckpoints(cfg.EventStore)
	}
	if cfg.Delay <= 0 {
		cfg.Delay = 2 * time.Second
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 3
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	r := &Recovery{cfg: cfg}
	sub, err := eventstore.NewSubscription(cfg.EventStore, eventstore.SubscriptionConfig{
		Name:        RecoveryName,
		Filter:      &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: []string{adapters.ReservationCategory + "-"}},
		Checkpoints: cfg.Checkpoints,
		Handler:     r.handle,
		Logger:      cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	r.sub = sub
	return r, nil
}

// Run resumes reservations until ctx ends; it returns nil then.
func (r *Recovery) Run(ctx context.Context) error { return r.sub.Run(ctx) }

// CaughtUp is closed once every intent recorded before Run was examined.
func (r *Recovery) CaughtUp() <-chan struct{} { return r.sub.CaughtUp() }

func (r *Recovery) handle(ctx context.Context, ev eventstore.RecordedEvent) error {
	switch ev.Type {
	case adapters.EventReservationRequested, adapters.EventReservationFailed,
		adapters.EventReservationCommitStarted, adapters.EventReservationReleaseStarted:
	default:
		return nil
	}
	orderID := strings.TrimPrefix(ev.Stream, adapters.ReservationCategory+"-")
	if wait := time.Until(ev.Created.Add(r.cfg.Delay)); wait > 0 {
		if !sleep(ctx, min(wait, r.cfg.Delay)) {
			return nil
		}
	}
	var err error
	for attempt := range r.cfg.Attempts {
		if err = r.cfg.App.ResumeReservation(ctx, orderID); err == nil || ctx.Err() != nil {
			return nil
		}
		if !sleep(ctx, time.Duration(attempt+1)*100*time.Millisecond) {
			return nil
		}
	}
	// The handler that recorded the intent retries on redelivery; a
	// failure here must not stop the recovery of every other order.
	r.cfg.Logger.ErrorContext(ctx, "catalog: resuming a reservation failed", "order", orderID, "error", err)
	return nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
