package eventstore_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	esserver "github.com/troupe-dev/troupe/embedded/eventstore"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

// appendN appends n events to stream (any expected revision: these tests
// are about reading) and returns their ids.
func appendN(t *testing.T, c *esdb.Client, stream string, n int) []uuid.UUID {
	t.Helper()
	ids := make([]uuid.UUID, n)
	for i := range ids {
		ids[i] = uuid.New()
		_, err := c.AppendToStream(t.Context(), stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Any{}}, esdb.EventData{
			EventID: ids[i], EventType: "test.sub.happened", ContentType: esdb.ContentTypeJson, Data: []byte(`{}`),
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// running is a Subscription running in the background.
type running struct {
	sub    *eventstore.Subscription
	events chan eventstore.RecordedEvent
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func startSubscription(t *testing.T, c *esdb.Client, cfg eventstore.SubscriptionConfig) *running {
	t.Helper()
	r := &running{events: make(chan eventstore.RecordedEvent, 1000), done: make(chan error, 1)}
	if cfg.Handler == nil {
		cfg.Handler = func(_ context.Context, ev eventstore.RecordedEvent) error {
			r.events <- ev
			return nil
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	sub, err := eventstore.NewSubscription(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.sub = sub
	ctx, cancel := context.WithCancel(t.Context())
	r.cancel = cancel
	go func() { r.done <- sub.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// next returns the next n handled events.
func (r *running) next(t *testing.T, n int) []eventstore.RecordedEvent {
	t.Helper()
	var out []eventstore.RecordedEvent
	timeout := time.After(15 * time.Second)
	for len(out) < n {
		select {
		case ev := <-r.events:
			out = append(out, ev)
		case err := <-r.done:
			t.Fatalf("subscription ended after %d of %d events: %v", len(out), n, err)
		case <-timeout:
			t.Fatalf("got %d of %d events", len(out), n)
		}
	}
	return out
}

func (r *running) stop(t *testing.T) {
	t.Helper()
	r.once.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Run after cancel: %v, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
}

func (r *running) waitCaughtUp(t *testing.T) {
	t.Helper()
	select {
	case <-r.sub.CaughtUp():
	case <-time.After(15 * time.Second):
		t.Fatal("never caught up")
	}
}

func wantIDs(t *testing.T, got []eventstore.RecordedEvent, want []uuid.UUID) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].ID != want[i] {
			t.Fatalf("event %d is %s (%s@%d), want %s", i, got[i].ID, got[i].Stream, got[i].Revision, want[i])
		}
	}
}

func prefixFilter(prefix string) *esdb.SubscriptionFilter {
	return &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: []string{prefix}}
}

func TestSubscriptionDeliversInOrderAndResumesFromItsCheckpoint(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	prefix := "tsub" + randomHex()
	var want []uuid.UUID
	for range 2 {
		want = append(want, appendN(t, c, prefix+"a-1", 1)...)
		want = append(want, appendN(t, c, prefix+"b-1", 1)...)
	}
	appendN(t, c, "other"+randomHex()+"-1", 3) // filtered out
	cfg := eventstore.SubscriptionConfig{Name: "test-" + randomHex(), Filter: prefixFilter(prefix), Checkpoints: eventstore.NewStreamCheckpoints(c)}

	first := startSubscription(t, c, cfg)
	got := first.next(t, 4)
	wantIDs(t, got, want)
	if got[1].Stream != prefix+"b-1" || got[2].Revision != 1 || got[0].Type != "test.sub.happened" {
		t.Fatalf("event fields: %+v", got[:3])
	}
	first.waitCaughtUp(t)
	first.stop(t)

	cp, ok, err := eventstore.NewStreamCheckpoints(c).Load(t.Context(), cfg.Name)
	if err != nil || !ok || eventstore.PositionAfter(got[3].Position, cp) {
		t.Fatalf("checkpoint %+v (%v, %v), want at or after the last handled event %+v", cp, ok, err, got[3].Position)
	}

	later := appendN(t, c, prefix+"a-1", 2)
	second := startSubscription(t, c, cfg)
	wantIDs(t, second.next(t, 2), later)
	second.waitCaughtUp(t)
	select {
	case ev := <-second.events:
		t.Fatalf("a resumed subscription redelivered %s@%d", ev.Stream, ev.Revision)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestSubscriptionStopsOnHandlerErrorAndRetriesThatEvent(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	prefix := "tsuberr" + randomHex()
	ids := appendN(t, c, prefix+"-1", 3)
	cfg := eventstore.SubscriptionConfig{Name: "test-" + randomHex(), Filter: prefixFilter(prefix), Checkpoints: eventstore.NewStreamCheckpoints(c), Logger: slog.New(slog.DiscardHandler)}

	boom := errors.New("boom")
	var handled []uuid.UUID
	cfg.Handler = func(_ context.Context, ev eventstore.RecordedEvent) error {
		if ev.ID == ids[1] {
			return boom
		}
		handled = append(handled, ev.ID)
		return nil
	}
	sub, err := eventstore.NewSubscription(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Run(t.Context()); !errors.Is(err, boom) {
		t.Fatalf("Run: %v, want the handler's error", err)
	}
	if len(handled) != 1 || handled[0] != ids[0] {
		t.Fatalf("handled %v before failing, want only %s", handled, ids[0])
	}

	cfg.Handler = nil
	again := startSubscription(t, c, cfg)
	wantIDs(t, again.next(t, 2), ids[1:])
}

// The server going away drops the subscription; it must come back on its
// own once the server does, and lose or repeat nothing.
func TestSubscriptionResubscribesAfterTheServerRestarts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	quiet := slog.New(slog.DiscardHandler)
	srv, err := esserver.Start(t.Context(), esserver.Config{DataDir: dir, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	addr := srv.Addr()
	c, err := eventstore.Dial(srv.URL(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })

	prefix := "tsubdrop" + randomHex()
	before := appendN(t, c, prefix+"-1", 2)
	r := startSubscription(t, c, eventstore.SubscriptionConfig{
		Name: "test-" + randomHex(), Filter: prefixFilter(prefix), Checkpoints: eventstore.NewStreamCheckpoints(c),
		InitialBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
	})
	wantIDs(t, r.next(t, 2), before)

	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	srv, err = esserver.Start(t.Context(), esserver.Config{DataDir: dir, Addr: addr, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })

	var after []uuid.UUID
	deadline := time.Now().Add(10 * time.Second)
	for len(after) < 2 {
		id := uuid.New()
		_, err := c.AppendToStream(t.Context(), prefix+"-1", esdb.AppendToStreamOptions{ExpectedRevision: esdb.Any{}}, esdb.EventData{
			EventID: id, EventType: "test.sub.happened", ContentType: esdb.ContentTypeJson, Data: []byte(`{}`),
		})
		if err == nil {
			after = append(after, id)
			continue
		}
		if time.Now().After(deadline) {
			t.Fatalf("appending after the restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // the client reconnects
	}
	wantIDs(t, r.next(t, 2), after)
	if r.sub.Resubscribes() < 1 {
		t.Fatalf("resubscribed %d times, want at least once", r.sub.Resubscribes())
	}
	select {
	case ev := <-r.events:
		t.Fatalf("unexpected extra event %s@%d", ev.Stream, ev.Revision)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestStreamCheckpoints(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	name := "test-" + randomHex()
	store := eventstore.NewStreamCheckpoints(c)
	if _, ok, err := store.Load(t.Context(), name); ok || err != nil {
		t.Fatalf("load before any save: %v, %v", ok, err)
	}
	for _, p := range []esdb.Position{{Commit: 10, Prepare: 10}, {Commit: 20, Prepare: 19}} {
		if err := store.Save(t.Context(), name, p); err != nil {
			t.Fatal(err)
		}
		got, ok, err := eventstore.NewStreamCheckpoints(c).Load(t.Context(), name)
		if err != nil || !ok || got != p {
			t.Fatalf("load after save %+v: %+v, %v, %v", p, got, ok, err)
		}
	}
	md, err := c.GetStreamMetadata(t.Context(), eventstore.CheckpointStream(name), esdb.ReadStreamOptions{})
	if err != nil || md.MaxCount() == nil || *md.MaxCount() != 1 {
		t.Fatalf("checkpoint stream metadata %+v, %v; want maxCount 1", md, err)
	}
	if evs := readStreamT(t, c, eventstore.CheckpointStream(name)); len(evs) != 1 {
		t.Fatalf("checkpoint stream keeps %d events, want 1", len(evs))
	}

	// A second writer of the same checkpoint is refused once, then re-reads.
	other := eventstore.NewStreamCheckpoints(c)
	if _, _, err := other.Load(t.Context(), name); err != nil {
		t.Fatal(err)
	}
	if err := store.Save(t.Context(), name, esdb.Position{Commit: 30, Prepare: 30}); err != nil {
		t.Fatal(err)
	}
	if err := other.Save(t.Context(), name, esdb.Position{Commit: 25, Prepare: 25}); !eventstore.IsWrongExpectedVersion(err) {
		t.Fatalf("stale writer's save: %v, want wrong expected version", err)
	}
	if err := other.Save(t.Context(), name, esdb.Position{Commit: 40, Prepare: 40}); err != nil {
		t.Fatalf("save after a refused one: %v", err)
	}
}

// handledConcurrently guards the ordering contract: one event at a time.
func TestSubscriptionHandlesOneEventAtATime(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	prefix := "tsubseq" + randomHex()
	ids := appendN(t, c, prefix+"-1", 20)
	var (
		mu       sync.Mutex
		inFlight int
		maxIn    int
		seen     []uuid.UUID
	)
	r := startSubscription(t, c, eventstore.SubscriptionConfig{
		Name: "test-" + randomHex(), Filter: prefixFilter(prefix), Checkpoints: eventstore.NewStreamCheckpoints(c), CheckpointEvery: 5,
		Handler: func(_ context.Context, ev eventstore.RecordedEvent) error {
			mu.Lock()
			inFlight++
			maxIn = max(maxIn, inFlight)
			seen = append(seen, ev.ID)
			mu.Unlock()
			time.Sleep(time.Millisecond)
			mu.Lock()
			inFlight--
			mu.Unlock()
			return nil
		},
	})
	r.waitCaughtUp(t)
	mu.Lock()
	defer mu.Unlock()
	if maxIn != 1 || len(seen) != len(ids) {
		t.Fatalf("%d handled, up to %d at once; want %d, one at a time", len(seen), maxIn, len(ids))
	}
	for i := range ids {
		if seen[i] != ids[i] {
			t.Fatalf("event %d out of order", i)
		}
	}
}
