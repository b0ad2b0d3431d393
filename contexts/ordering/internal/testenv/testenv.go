// Package testenv holds what the ordering context's tests share: an
// embedded event store per test, a movable clock and a quiet logger.
package testenv

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	esserver "github.com/troupe-dev/troupe/embedded/eventstore"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

// EventStore starts an embedded event store for t and returns a client of
// it; both are closed when t ends.
func EventStore(t testing.TB) *esdb.Client {
	t.Helper()
	srv, err := esserver.Start(context.Background(), esserver.Config{DataDir: t.TempDir(), Logger: Quiet()})
	if err != nil {
		t.Fatalf("start embedded event store: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	client, err := eventstore.Dial(srv.URL(), Quiet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return client
}

// Quiet returns a logger that drops everything.
func Quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// Logger returns a logger writing warnings and errors to t.Log.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Clock is a clock tests move by hand. Safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock at start.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Eventually calls cond every 20ms until it returns true or timeout passes,
// then fails t with msg.
func Eventually(t testing.TB, timeout time.Duration, msg string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
