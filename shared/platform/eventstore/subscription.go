package eventstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/cenkalti/backoff/v5"
)

// Handler handles one event of a Subscription. Events arrive one at a time,
// in $all order; an event may arrive again after a restart or a drop
// (at-least-once), so handlers must be idempotent.
type Handler func(ctx context.Context, ev RecordedEvent) error

// SubscriptionConfig configures a Subscription.
type SubscriptionConfig struct {
	// Name identifies the subscription's checkpoint. Renaming it restarts
	// the subscription from the beginning of $all. Required.
	Name string
	// Filter selects events server-side (stream-name or event-type prefixes,
	// or a regex). Default: every event whose type does not start with "$".
	Filter *esdb.SubscriptionFilter
	// Checkpoints stores the position. Required.
	Checkpoints CheckpointStore
	// Handler handles each event. Required.
	Handler Handler
	// CheckpointEvery saves the position after this many handled events.
	// The position is also saved on catching up and on stopping. Default 1.
	CheckpointEvery int
	// ServerCheckpointPeriod is the least time between two saves of a
	// position the server reports while it skips filtered-out events. Such
	// saves only shorten a replay after a restart, and each is itself an
	// append to $all that every other subscription scans, so they are
	// throttled. Default 1s.
	ServerCheckpointPeriod time.Duration
	// CheckpointInterval asks the server for a checkpoint message every
	// CheckpointInterval search windows of filtered-out events. Default 1.
	CheckpointInterval int
	// MaxSearchWindow is how many events the server scans per search window.
	// Default 32.
	MaxSearchWindow int
	// InitialBackoff and MaxBackoff bound the wait before resubscribing
	// after a drop; it doubles, with jitter, between the two. Defaults
	// 100ms and 10s.
	InitialBackoff, MaxBackoff time.Duration
	// Logger receives drops and checkpoint failures. Default slog.Default().
	Logger *slog.Logger
}

func (c *SubscriptionConfig) setDefaults() {
	if c.Filter == nil {
		c.Filter = esdb.ExcludeSystemEventsFilter()
	}
	if c.CheckpointEvery <= 0 {
		c.CheckpointEvery = 1
	}
	if c.ServerCheckpointPeriod <= 0 {
		c.ServerCheckpointPeriod = time.Second
	}
	if c.CheckpointInterval <= 0 {
		c.CheckpointInterval = 1
	}
	if c.MaxSearchWindow <= 0 {
		c.MaxSearchWindow = 32
	}
	if c.InitialBackoff <= 0 {
		c.InitialBackoff = 100 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports the first missing setting.
func (c *SubscriptionConfig) Validate() error {
	switch {
	case c.Name == "":
		return errors.New("eventstore: SubscriptionConfig.Name is required")
	case c.Checkpoints == nil:
		return errors.New("eventstore: SubscriptionConfig.Checkpoints is required")
	case c.Handler == nil:
		return errors.New("eventstore: SubscriptionConfig.Handler is required")
	case c.MaxBackoff < c.InitialBackoff:
		return errors.New("eventstore: SubscriptionConfig.MaxBackoff is below InitialBackoff")
	}
	return nil
}

// Subscription is a catch-up subscription to $all that survives drops: it
// starts after its stored checkpoint, hands each event to the Handler in
// order, saves the checkpoint after handling (so at-least-once), and when
// the server or the network drops it, resubscribes after a backoff from the
// last event it handled. Run it once; CaughtUp may be watched from any
// goroutine.
type Subscription struct {
	client *esdb.Client
	cfg    SubscriptionConfig

	caughtUp     chan struct{}
	caughtUpOnce sync.Once
	mu           sync.Mutex
	resubscribes int
}

// NewSubscription returns a Subscription over client, or the config's
// validation error. Nothing happens until Run.
func NewSubscription(client *esdb.Client, cfg SubscriptionConfig) (*Subscription, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if client == nil {
		return nil, errors.New("eventstore: nil client")
	}
	return &Subscription{client: client, cfg: cfg, caughtUp: make(chan struct{})}, nil
}

// CaughtUp is closed the first time the subscription has delivered every
// event that existed when it (re)subscribed.
func (s *Subscription) CaughtUp() <-chan struct{} {
	return s.caughtUp
}

// Resubscribes says how many times Run has subscribed again after a drop.
func (s *Subscription) Resubscribes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.resubscribes
}

// handlerError marks a failure of the Handler, which ends Run, unlike a
// drop, which Run outlives.
type handlerError struct{ err error }

func (e handlerError) Error() string { return e.err.Error() }
func (e handlerError) Unwrap() error { return e.err }

// Run subscribes and handles events until ctx is done (then it returns nil)
// or the Handler fails (then it returns the Handler's error, with the
// checkpoint at the last event handled, so a new Run retries that event).
func (s *Subscription) Run(ctx context.Context) error {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval, bo.MaxInterval = s.cfg.InitialBackoff, s.cfg.MaxBackoff
	bo.Reset()

	var (
		pos     esdb.Position
		havePos bool
		loaded  bool
	)
	for {
		if !loaded {
			p, ok, err := s.cfg.Checkpoints.Load(ctx, s.cfg.Name)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				s.cfg.Logger.WarnContext(ctx, "eventstore: loading checkpoint failed", "subscription", s.cfg.Name, "error", err)
				if sleep(ctx, bo.NextBackOff()) != nil {
					return nil
				}
				continue
			}
			pos, havePos, loaded = p, ok, true
		}
		progressed, err := s.session(ctx, &pos, &havePos)
		if ctx.Err() != nil {
			return nil
		}
		var he handlerError
		if errors.As(err, &he) {
			return fmt.Errorf("subscription %s: %w", s.cfg.Name, he.err)
		}
		if progressed {
			bo.Reset()
		}
		s.mu.Lock()
		s.resubscribes++
		s.mu.Unlock()
		s.cfg.Logger.WarnContext(ctx, "eventstore: subscription dropped, resubscribing", "subscription", s.cfg.Name, "error", err)
		if sleep(ctx, bo.NextBackOff()) != nil {
			return nil
		}
	}
}

// session runs one subscription until it drops, and says whether it handled
// anything (a sign the drop is not a persistent failure).
func (s *Subscription) session(ctx context.Context, pos *esdb.Position, havePos *bool) (bool, error) {
	var from esdb.AllPosition = esdb.Start{}
	if *havePos {
		from = *pos
	}
	sub, err := s.client.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{
		From:               from,
		Filter:             s.cfg.Filter,
		MaxSearchWindow:    s.cfg.MaxSearchWindow,
		CheckpointInterval: s.cfg.CheckpointInterval,
	})
	if err != nil {
		return false, fmt.Errorf("subscribe: %w", err)
	}
	defer sub.Close()

	var (
		progressed bool
		unsaved    int
		saved      = *pos
		savedOK    = *havePos
		savedAt    time.Time
	)
	save := func(c context.Context) {
		if !*havePos || (savedOK && !PositionAfter(*pos, saved)) {
			return
		}
		if err := s.cfg.Checkpoints.Save(c, s.cfg.Name, *pos); err != nil {
			if c.Err() != nil {
				return // stopping: the save on the way out carries the position
			}
			// The next save carries the position further; a lost save only
			// means a longer replay after a restart.
			s.cfg.Logger.WarnContext(c, "eventstore: saving checkpoint failed", "subscription", s.cfg.Name, "error", err)
			return
		}
		saved, savedOK, unsaved, savedAt = *pos, true, 0, time.Now()
	}
	// Stopping saves what was handled, even though ctx is already done.
	defer func() {
		c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		save(c)
	}()

	for {
		msg := sub.Recv()
		if ctx.Err() != nil {
			// Stopping: what the client still had buffered is not handled
			// (it comes again after the saved position).
			return progressed, ctx.Err()
		}
		switch {
		case msg.SubscriptionDropped != nil:
			return progressed, fmt.Errorf("dropped: %w", msg.SubscriptionDropped.Error)
		case msg.EventAppeared != nil:
			ev := msg.EventAppeared.OriginalEvent()
			// The start position is exclusive, but a server that resends the
			// last handled event must not have it handled twice in a row.
			if *havePos && !PositionAfter(ev.Position, *pos) {
				continue
			}
			if err := s.cfg.Handler(ctx, NewRecordedEvent(ev)); err != nil {
				return progressed, handlerError{err}
			}
			*pos, *havePos, progressed = ev.Position, true, true
			unsaved++
			if unsaved >= s.cfg.CheckpointEvery {
				save(ctx)
			}
		case msg.CheckPointReached != nil:
			// Every matching event before this position has been delivered
			// and, handling being synchronous, handled.
			if !*havePos || PositionAfter(*msg.CheckPointReached, *pos) {
				*pos, *havePos = *msg.CheckPointReached, true
			}
			if time.Since(savedAt) >= s.cfg.ServerCheckpointPeriod {
				save(ctx)
			}
		case msg.CaughtUp != nil:
			save(ctx)
			s.caughtUpOnce.Do(func() { close(s.caughtUp) })
		}
	}
}
