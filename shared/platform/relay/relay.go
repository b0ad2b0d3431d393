package relay

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/IBM/sarama"
	"github.com/cenkalti/backoff/v5"

	"github.com/troupe-dev/troupe/shared/platform/eventstore"
	"github.com/troupe-dev/troupe/shared/platform/messaging"
)

// ErrMapping wraps the error of a Mapper, and of a mapped event the relay
// refuses (a type outside the context); Run returns it.
var ErrMapping = errors.New("relay: mapping failed")

// Stats are a relay's counters since New.
type Stats struct {
	// Published counts integration events Kafka acknowledged, repeats after
	// a restart included.
	Published uint64
	// Skipped counts domain events the Mapper kept private.
	Skipped uint64
	// Failed counts publications Kafka failed after the producer's retries;
	// each ends the producer session.
	Failed uint64
	// Restarts counts producer sessions started again after a failure.
	Restarts uint64
	// OrderViolations counts revisions Kafka acknowledged after an earlier
	// revision of the same stream failed in the same session (see the
	// package doc); it should stay 0.
	OrderViolations uint64
	// InFlight is how many events await Kafka's acknowledgement.
	InFlight int
	// Lag is how long ago the oldest event read but not yet acknowledged
	// occurred (in flight, or failed and waiting for the next session); 0
	// when there is none. While the relay catches up on history it is the
	// age of the history it is publishing.
	Lag time.Duration
	// Checkpoint is the last position saved, and CheckpointSaved whether
	// one was saved since New.
	Checkpoint      esdb.Position
	CheckpointSaved bool
}

// Relay publishes one context's integration events from the event store to
// Kafka. Create it with New and call Run once; Stats may be called from any
// goroutine.
type Relay struct {
	cfg        Config
	sarama     sarama.Config // a copy, with Return.Successes and Return.Errors on
	topic      string
	typePrefix string // every integration event type starts with it
	name       string
	filter     *esdb.SubscriptionFilter
	headerKeys [len(headerKeys)][]byte

	running atomic.Bool

	published, skipped, failed, restarts, violations atomic.Uint64

	mu        sync.Mutex
	session   *session      // the current one, for Stats
	resume    esdb.Position // where the next session starts (everything before is acknowledged)
	hasResume bool
	saved     esdb.Position // the last position written to Checkpoints
	hasSaved  bool
}

// New returns a Relay for cfg after applying defaults, or the config's
// validation error. Nothing connects until Run.
func New(cfg Config) (*Relay, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	r := &Relay{
		cfg:        cfg,
		sarama:     *cfg.Sarama,
		topic:      cfg.Topic(),
		typePrefix: cfg.Context + ".",
		name:       cfg.CheckpointName(),
		filter:     subscriptionFilter(cfg),
	}
	r.sarama.Producer.Return.Successes = true
	r.sarama.Producer.Return.Errors = true
	for i, k := range headerKeys {
		r.headerKeys[i] = []byte(k)
	}
	return r, nil
}

// subscriptionFilter selects the events the relay reads from $all: the
// source types a TypedMapper names, or else every stream of the context.
func subscriptionFilter(cfg Config) *esdb.SubscriptionFilter {
	if tm, ok := cfg.Mapper.(TypedMapper); ok {
		return &esdb.SubscriptionFilter{Type: esdb.EventFilterType, Prefixes: slices.Clone(tm.SourceTypes())}
	}
	return &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: []string{cfg.StreamPrefix()}}
}

// Stats returns the relay's counters.
func (r *Relay) Stats() Stats {
	st := Stats{
		Published:       r.published.Load(),
		Skipped:         r.skipped.Load(),
		Failed:          r.failed.Load(),
		Restarts:        r.restarts.Load(),
		OrderViolations: r.violations.Load(),
	}
	r.mu.Lock()
	s := r.session
	st.Checkpoint, st.CheckpointSaved = r.saved, r.hasSaved
	r.mu.Unlock()
	if s != nil {
		var oldest time.Time
		st.InFlight, oldest = s.tr.pending()
		if !oldest.IsZero() {
			st.Lag = max(time.Since(oldest), 0)
		}
	}
	return st
}

// Run publishes until ctx ends, then waits (at most
// Config.ShutdownTimeout) for Kafka to acknowledge what is in flight, saves
// the checkpoint and returns nil. Kafka outages and produce failures make it
// wait and start a new producer session from the checkpoint; event-store
// drops make it resubscribe; neither ends Run. It returns early only with an
// error wrapping ErrMapping (the checkpoint stays before the event that
// could not be mapped), or when called while already running.
func (r *Relay) Run(ctx context.Context) error {
	if !r.running.CompareAndSwap(false, true) {
		return errors.New("relay: Run called while already running")
	}
	defer r.running.Store(false)

	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval, bo.MaxInterval = r.cfg.InitialBackoff, r.cfg.MaxBackoff
	bo.Reset()
	for {
		published, err := r.runSession(ctx)
		if errors.Is(err, ErrMapping) {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		if published {
			bo.Reset()
		}
		r.restarts.Add(1)
		wait := bo.NextBackOff()
		r.cfg.Logger.WarnContext(ctx, "relay: producer session ended, starting again from the checkpoint",
			"context", r.cfg.Context, "error", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// session is one producer's life: from the checkpoint until ctx ends or
// Kafka fails a message.
type session struct {
	r        *Relay
	producer sarama.AsyncProducer
	tr       *tracker

	poisoned atomic.Bool   // set on the first failure, before anything else
	failed   chan struct{} // closed on the first failure
	failOnce sync.Once
	failErr  error
	acked    atomic.Bool   // something was acknowledged
	done     chan struct{} // closed when the producer's answers are drained
}

// errSessionFailed ends a subscription whose producer failed.
var errSessionFailed = errors.New("relay: producer session failed")

// runSession runs one session and says whether it published anything.
func (r *Relay) runSession(ctx context.Context) (bool, error) {
	// Produce requests to a missing topic would only be retried.
	if err := messaging.EnsureTopics(r.cfg.Brokers, &r.sarama, r.topic); err != nil {
		return false, err
	}
	producer, err := sarama.NewAsyncProducer(r.cfg.Brokers, &r.sarama)
	if err != nil {
		return false, fmt.Errorf("relay: producer: %w", err)
	}
	s := &session{
		r:        r,
		producer: producer,
		tr:       newTracker(r.cfg.MaxInFlight),
		failed:   make(chan struct{}),
		done:     make(chan struct{}),
	}
	r.mu.Lock()
	r.session = s
	r.mu.Unlock()
	go s.collect()

	sub, err := eventstore.NewSubscription(r.cfg.EventStore, eventstore.SubscriptionConfig{
		Name:        r.name,
		Filter:      r.filter,
		Checkpoints: sessionCheckpoints{s},
		Handler:     s.handle,
		// Every handled position goes to the tracker (in memory); the
		// relay's own loop decides what reaches the store.
		CheckpointEvery: 1,
		Logger:          r.cfg.Logger,
	})
	if err != nil {
		producer.AsyncClose()
		<-s.done
		return false, err
	}

	sctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-s.failed: // an idle subscription would not notice
			cancel()
		case <-sctx.Done():
		}
	}()
	saverDone := make(chan struct{})
	go func() {
		defer close(saverDone)
		t := time.NewTicker(r.cfg.CheckpointInterval)
		defer t.Stop()
		for {
			select {
			case <-sctx.Done():
				return
			case <-t.C:
				r.saveCheckpoint(sctx, s)
			}
		}
	}()

	runErr := sub.Run(sctx)
	cancel()
	<-saverDone

	// Drain: what is in the producer is either acknowledged or failed.
	producer.AsyncClose()
	select {
	case <-s.done:
	case <-ctx.Done():
		select {
		case <-s.done:
		case <-time.After(r.cfg.ShutdownTimeout):
			r.cfg.Logger.Warn("relay: Kafka did not acknowledge the events in flight before the shutdown timeout; they are published again on the next start",
				"context", r.cfg.Context, "in_flight", r.Stats().InFlight)
		}
	}
	saveCtx, saveCancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	r.saveCheckpoint(saveCtx, s)
	saveCancel()

	if s.poisoned.Load() {
		if inv := s.tr.inversions(); len(inv) > 0 {
			r.violations.Add(uint64(len(inv)))
			r.cfg.Logger.Error("relay: Kafka acknowledged events after an earlier event of the same stream failed; consumers that skip by revision will miss the failed ones",
				"context", r.cfg.Context, "violations", inv)
		}
	}

	published := s.acked.Load()
	switch {
	case runErr != nil && !errors.Is(runErr, errSessionFailed):
		return published, runErr
	case s.poisoned.Load():
		return published, s.failErr
	}
	return published, nil
}

// handle publishes one event: map it, wait for room in the window, hand it
// to the producer. It returns once the producer has it, not once Kafka
// acknowledged it.
func (s *session) handle(ctx context.Context, ev eventstore.RecordedEvent) error {
	r := s.r
	ie, ok, err := r.cfg.Mapper.Map(ev)
	if err != nil {
		return fmt.Errorf("%w: %s@%d (%s): %w", ErrMapping, ev.Stream, ev.Revision, ev.Type, err)
	}
	if !ok {
		r.skipped.Add(1)
		return nil
	}
	if !strings.HasPrefix(ie.Type, r.typePrefix) {
		return fmt.Errorf("%w: %s@%d (%s): integration event type %q is not of context %q",
			ErrMapping, ev.Stream, ev.Revision, ev.Type, ie.Type, r.cfg.Context)
	}
	for !s.tr.hasRoom() {
		select {
		case <-s.tr.room:
		case <-s.failed:
			return errSessionFailed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if s.poisoned.Load() {
		return errSessionFailed
	}
	o := newOutMsg(s, &ev, ie)
	o.seq = s.tr.publish(ev.Stream, ev.Revision, o.pm.Timestamp)
	select {
	case s.producer.Input() <- &o.pm:
		return nil
	case <-s.failed:
	case <-ctx.Done():
	}
	// Never handed over: it stays unacknowledged, so the checkpoint stays
	// before it.
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errSessionFailed
}

// collect reads the producer's answers until it is closed.
func (s *session) collect() {
	defer close(s.done)
	succ, errs := s.producer.Successes(), s.producer.Errors()
	for succ != nil || errs != nil {
		select {
		case m, ok := <-succ:
			if !ok {
				succ = nil
				continue
			}
			s.tr.ack(m.Metadata.(*outMsg).seq)
			s.acked.Store(true)
			s.r.published.Add(1)
		case pe, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			s.fail(pe.Err)
			s.tr.fail(pe.Msg.Metadata.(*outMsg).seq)
			if !errors.Is(pe.Err, errPoisoned) {
				s.r.failed.Add(1)
			}
		}
	}
}

// fail ends the session on its first produce failure. Poisoning comes
// first, so that the producer refuses everything it has not yet batched.
func (s *session) fail(err error) {
	s.failOnce.Do(func() {
		s.poisoned.Store(true)
		s.failErr = fmt.Errorf("relay: produce: %w", err)
		close(s.failed)
	})
}

// saveCheckpoint stores the session's safe position when it moved, and
// remembers it as where the next session starts, even when the store is
// unreachable (then only a crash would replay further back).
func (r *Relay) saveCheckpoint(ctx context.Context, s *session) {
	pos, ok := s.tr.checkpoint()
	if !ok {
		return
	}
	r.mu.Lock()
	if !r.hasResume || eventstore.PositionAfter(pos, r.resume) {
		r.resume, r.hasResume = pos, true
	}
	moved := !r.hasSaved || eventstore.PositionAfter(pos, r.saved)
	r.mu.Unlock()
	if !moved {
		return
	}
	if err := r.cfg.Checkpoints.Save(ctx, r.name, pos); err != nil {
		if ctx.Err() == nil {
			r.cfg.Logger.Warn("relay: saving the checkpoint failed; the next save carries it further",
				"context", r.cfg.Context, "error", err)
		}
		return
	}
	r.mu.Lock()
	r.saved, r.hasSaved = pos, true
	r.mu.Unlock()
	if r.cfg.OnCheckpoint != nil {
		r.cfg.OnCheckpoint(r.Stats())
	}
}

// sessionCheckpoints is what the subscription sees as its checkpoint store:
// it starts from the relay's position, and its saves (a position handled,
// not yet acknowledged) only feed the tracker.
type sessionCheckpoints struct{ s *session }

func (c sessionCheckpoints) Load(ctx context.Context, _ string) (esdb.Position, bool, error) {
	r := c.s.r
	r.mu.Lock()
	pos, ok := r.resume, r.hasResume
	r.mu.Unlock()
	if !ok {
		var err error
		pos, ok, err = r.cfg.Checkpoints.Load(ctx, r.name)
		if err != nil {
			return pos, false, err
		}
		if ok {
			r.mu.Lock()
			r.resume, r.hasResume = pos, true
			r.saved, r.hasSaved = pos, true
			r.mu.Unlock()
		}
	}
	c.s.tr.start(pos, ok)
	return pos, ok, nil
}

func (c sessionCheckpoints) Save(_ context.Context, _ string, pos esdb.Position) error {
	c.s.tr.handled(pos)
	return nil
}
