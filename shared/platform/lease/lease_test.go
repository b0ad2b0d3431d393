package lease_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	esserver "github.com/troupe-dev/troupe/embedded/eventstore"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
	"github.com/troupe-dev/troupe/shared/platform/lease"
	"github.com/troupe-dev/troupe/shared/platform/testinfra"
)

var quiet = slog.New(slog.DiscardHandler)

// store starts an embedded event store for one test and returns its URL.
func store(t *testing.T) string {
	t.Helper()
	srv, err := esserver.Start(context.Background(), esserver.Config{DataDir: t.TempDir(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv.URL()
}

func dial(t *testing.T, url string) *esdb.Client {
	t.Helper()
	c, err := eventstore.Dial(url, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// exclusive counts the work running at once and remembers the most ever.
type exclusive struct {
	mu      sync.Mutex
	running int
	most    int
	runs    []string
}

func (x *exclusive) work(name string) func(context.Context) error {
	return func(ctx context.Context) error {
		x.mu.Lock()
		x.running++
		x.most = max(x.most, x.running)
		x.runs = append(x.runs, name)
		x.mu.Unlock()
		<-ctx.Done()
		x.mu.Lock()
		x.running--
		x.mu.Unlock()
		return nil
	}
}

func (x *exclusive) snapshot() (most int, runs []string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.most, append([]string(nil), x.runs...)
}

func newLease(t *testing.T, c *esdb.Client, name, holder string, ttl time.Duration) *lease.Lease {
	t.Helper()
	l, err := lease.New(lease.Config{EventStore: c, Name: name, Holder: holder, TTL: ttl, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// runLease runs l in the background; the returned cancel stops it and
// waits for Run to return.
func runLease(t *testing.T, l *lease.Lease, work func(context.Context) error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx, work) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("lease %s Run: %v", l.Holder(), err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, cfg := range []lease.Config{
		{Name: "x"},
		{EventStore: &esdb.Client{}, Name: "bad name"},
		{EventStore: &esdb.Client{}, Name: "x", TTL: time.Second, RenewEvery: 600 * time.Millisecond, Margin: 500 * time.Millisecond},
	} {
		if _, err := lease.New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

// Two contenders: one holds and works, the other waits; a clean release
// (the holder's context ends) hands the lease over at once, long before
// the TTL, and the work never runs twice at a time.
func TestOneHolderAndReleaseHandsOver(t *testing.T) {
	t.Parallel()
	url := store(t)
	name := testinfra.UniqueName(t, "relay")
	var x exclusive
	a := newLease(t, dial(t, url), name, "a", time.Minute)
	stopA := runLease(t, a, x.work("a"))
	waitUntil(t, "a holds", a.Held)
	b := newLease(t, dial(t, url), name, "b", time.Minute)
	runLease(t, b, x.work("b"))
	// b polls the stream several times meanwhile (Poll is TTL/10 = 6 s,
	// and it reads once at start): it must not take a lease renewed by a.
	time.Sleep(500 * time.Millisecond)
	if b.Held() {
		t.Fatal("b holds the lease while a holds it")
	}
	stopA()
	// The release is seen at b's next poll (6 s), far before the 1 min TTL.
	waitUntil(t, "b holds after a released", b.Held)
	most, runs := x.snapshot()
	if most != 1 || len(runs) != 2 || runs[0] != "a" || runs[1] != "b" {
		t.Fatalf("work ran %v with at most %d at once; want a then b, one at a time", runs, most)
	}
}

// A holder that stops renewing (here: a foreign record renewed by the test,
// then abandoned) keeps the lease until its TTL has passed unrenewed; then
// the contender takes over.
func TestTakeoverAfterHolderStopsRenewing(t *testing.T) {
	t.Parallel()
	url := store(t)
	c := dial(t, url)
	name := testinfra.UniqueName(t, "relay")
	ghostTTL := time.Second
	rev := writeRecord(t, c, name, esdb.NoStream{}, "ghost", ghostTTL)

	var x exclusive
	b := newLease(t, dial(t, url), name, "b", 2*time.Second)
	runLease(t, b, x.work("b"))
	// The ghost renews every 200 ms for 2 s (two of its TTLs): b must wait.
	for range 10 {
		time.Sleep(200 * time.Millisecond)
		rev = writeRecord(t, c, name, esdb.Revision(rev), "ghost", ghostTTL)
		if b.Held() {
			t.Fatal("b took a lease that was renewed")
		}
	}
	// The ghost stops renewing: b takes over after the TTL.
	waitUntil(t, "b takes over the abandoned lease", b.Held)
	if got := b.Acquisitions(); got != 1 {
		t.Fatalf("acquisitions = %d", got)
	}
}

// A holder cut off from the event store (its client closed, the way a
// killed or partitioned process stops renewing) stops its work by itself,
// before the other contender takes over after the TTL.
func TestCutOffHolderStopsBeforeTakeover(t *testing.T) {
	t.Parallel()
	url := store(t)
	name := testinfra.UniqueName(t, "relay")
	var x exclusive
	ca, err := eventstore.Dial(url, quiet)
	if err != nil {
		t.Fatal(err)
	}
	a := newLease(t, ca, name, "a", 2*time.Second)
	runLease(t, a, x.work("a"))
	waitUntil(t, "a holds", a.Held)
	b := newLease(t, dial(t, url), name, "b", 2*time.Second)
	runLease(t, b, x.work("b"))

	_ = ca.Close()
	waitUntil(t, "b takes over from the cut-off a", b.Held)
	if a.Held() {
		t.Fatal("a still holds after b took over")
	}
	most, runs := x.snapshot()
	if most != 1 || len(runs) != 2 {
		t.Fatalf("work ran %v with at most %d at once; want a then b, one at a time", runs, most)
	}
}

// A holder whose renewal is refused (another writer took the stream) stops
// its work at once and contends again.
func TestRefusedRenewalStopsWork(t *testing.T) {
	t.Parallel()
	url := store(t)
	c := dial(t, url)
	name := testinfra.UniqueName(t, "relay")
	var stopped atomic.Bool
	a := newLease(t, dial(t, url), name, "a", 2*time.Second)
	runLease(t, a, func(ctx context.Context) error {
		<-ctx.Done()
		stopped.Store(true)
		return nil
	})
	waitUntil(t, "a holds", a.Held)
	// An intruder writes at the current revision, as a contender taking
	// over would.
	cur := lastRevision(t, c, name)
	writeRecord(t, c, name, esdb.Revision(cur), "intruder", time.Hour)
	waitUntil(t, "a's work stopped", stopped.Load)
	if a.Held() {
		t.Fatal("a holds after its renewal was refused")
	}
}

// A process restarted under the same holder id (a `troupe up` on its own
// locked data dir) takes its own unreleased lease at once.
func TestSameHolderRetakesAtOnce(t *testing.T) {
	t.Parallel()
	url := store(t)
	c := dial(t, url)
	name := testinfra.UniqueName(t, "relay")
	writeRecord(t, c, name, esdb.NoStream{}, "up-1", time.Hour)
	a := newLease(t, dial(t, url), name, "up-1", time.Hour)
	runLease(t, a, func(ctx context.Context) error { <-ctx.Done(); return nil })
	waitUntil(t, "up-1 retakes its lease", a.Held)
}

// Work that fails ends Run with its error, and the lease is released.
func TestWorkErrorEndsRun(t *testing.T) {
	t.Parallel()
	url := store(t)
	name := testinfra.UniqueName(t, "relay")
	a := newLease(t, dial(t, url), name, "a", time.Minute)
	boom := context.DeadlineExceeded
	err := a.Run(context.Background(), func(context.Context) error { return boom })
	if err != boom {
		t.Fatalf("Run = %v, want the work's error", err)
	}
	b := newLease(t, dial(t, url), name, "b", time.Minute)
	runLease(t, b, func(ctx context.Context) error { <-ctx.Done(); return nil })
	waitUntil(t, "b takes the released lease", b.Held)
}

func writeRecord(t *testing.T, c *esdb.Client, name string, expected esdb.ExpectedRevision, holder string, ttl time.Duration) uint64 {
	t.Helper()
	data, _ := json.Marshal(map[string]any{"holder": holder, "ttlMs": ttl.Milliseconds()})
	res, err := c.AppendToStream(t.Context(), lease.Stream(name), esdb.AppendToStreamOptions{ExpectedRevision: expected},
		esdb.EventData{EventID: uuid.New(), EventType: lease.EventType, ContentType: esdb.ContentTypeJson, Data: data})
	if err != nil {
		t.Fatal(err)
	}
	return res.NextExpectedVersion
}

func lastRevision(t *testing.T, c *esdb.Client, name string) uint64 {
	t.Helper()
	rs, err := c.ReadStream(t.Context(), lease.Stream(name), esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	re, err := rs.Recv()
	if err != nil {
		t.Fatal(err)
	}
	return re.OriginalEvent().EventNumber
}
