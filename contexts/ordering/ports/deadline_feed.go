package ports

import (
	"context"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/troupe-dev/troupe/contexts/ordering/adapters"
	"github.com/troupe-dev/troupe/contexts/ordering/app"
	"github.com/troupe-dev/troupe/contexts/ordering/domain/order"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

// NewDeadlineFeed returns a catch-up subscription over every order stream
// that schedules each placed order's deadline and forgets it once the order
// is final. It keeps no checkpoint: each start replays the order streams
// from the beginning, so the pending deadlines are rebuilt from the event
// store after a restart (the subscription's CaughtUp says when).
func NewDeadlineFeed(client *esdb.Client, registry *eventstore.Registry, deadlines *app.Deadlines, cfg eventstore.SubscriptionConfig) (*eventstore.Subscription, error) {
	cfg.Name = "ordering-deadlines"
	cfg.Checkpoints = &memoryCheckpoints{}
	cfg.Filter = &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: []string{adapters.OrderStreamPrefix}}
	cfg.CheckpointEvery = 1 << 30
	cfg.Handler = func(_ context.Context, ev eventstore.RecordedEvent) error {
		switch ev.Type {
		case adapters.TypeOrderPlaced, adapters.TypeOrderConfirmed, adapters.TypeOrderCancelled:
		default:
			return nil
		}
		decoded, err := registry.Decode(ev.Type, ev.Data)
		if err != nil {
			return err
		}
		orderID := ev.Stream[len(adapters.OrderStreamPrefix):]
		switch e := decoded.(type) {
		case order.Placed:
			deadlines.Schedule(orderID, e.Deadline)
		case order.Confirmed, order.Cancelled:
			deadlines.Forget(orderID)
		}
		return nil
	}
	return eventstore.NewSubscription(client, cfg)
}

// memoryCheckpoints keeps the position for the life of the process only:
// resubscribing after a drop resumes, a restart replays.
type memoryCheckpoints struct {
	pos esdb.Position
	ok  bool
}

func (m *memoryCheckpoints) Load(context.Context, string) (esdb.Position, bool, error) {
	return m.pos, m.ok, nil
}

func (m *memoryCheckpoints) Save(_ context.Context, _ string, pos esdb.Position) error {
	m.pos, m.ok = pos, true
	return nil
}
