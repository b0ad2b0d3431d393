package relay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/troupe-dev/troupe/shared/platform/messaging"
	"github.com/troupe-dev/troupe/shared/platform/testinfra"
)

// writer appends events to streams round-robin, each append with the exact
// expected revision, paced to about rate events a second. Every third event
// is private (noted), so the relay's skips are exercised under crashes too.
type writer struct {
	streams []string
	perStr  int
	rate    int

	mu        sync.Mutex
	published map[string][]uint64 // revisions that must reach Kafka, per stream
	err       error
}

func newWriter(context string, streams, perStream, rate int) *writer {
	w := &writer{perStr: perStream, rate: rate, published: map[string][]uint64{}}
	for i := range streams {
		w.streams = append(w.streams, fmt.Sprintf("%s.product-%03d", context, i))
	}
	return w
}

// run appends everything, or stops at the first error.
func (w *writer) run(ctx context.Context, es *esdb.Client) {
	start := time.Now()
	n := 0
	for rev := 0; rev < w.perStr; {
		batch := min(1+rand.IntN(3), w.perStr-rev)
		for _, s := range w.streams {
			evs := make([]domainEvent, batch)
			for i := range evs {
				r := rev + i
				typ := typeRepriced
				switch {
				case r == 0:
					typ = typeListed
				case r%3 == 2:
					typ = typeNoted
				}
				evs[i] = domainEvent{typ, fmt.Sprintf(`{"stream":%q,"rev":%d}`, s, r), metadataAt(time.Now())}
			}
			var expected esdb.ExpectedRevision = esdb.NoStream{}
			if rev > 0 {
				expected = esdb.Revision(uint64(rev - 1))
			}
			if _, err := appendEvents(ctx, es, s, expected, evs...); err != nil {
				w.mu.Lock()
				w.err = fmt.Errorf("append %s@%d: %w", s, rev, err)
				w.mu.Unlock()
				return
			}
			w.mu.Lock()
			for i, e := range evs {
				if e.typ != typeNoted {
					w.published[s] = append(w.published[s], uint64(rev+i))
				}
			}
			w.mu.Unlock()
			n += batch
		}
		rev += batch
		// Pace: sleep until n events are due.
		if due := start.Add(time.Duration(n) * time.Second / time.Duration(w.rate)); time.Until(due) > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(due)):
			}
		}
	}
}

func (w *writer) want() (map[string][]uint64, int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, revs := range w.published {
		n += len(revs)
	}
	return w.published, n, w.err
}

// child is a relay in a process of its own.
type child struct {
	cmd    *exec.Cmd
	stdin  io.Closer // the child exits when it closes, e.g. when the test dies
	stderr *bytes.Buffer
}

func startChild(t *testing.T, cc childConfig) *child {
	t.Helper()
	b, err := json.Marshal(cc)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"="+string(b))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return &child{cmd: cmd, stdin: stdin, stderr: &stderr}
}

func (c *child) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	_ = c.cmd.Process.Signal(sig)
	err := c.cmd.Wait()
	_ = c.stdin.Close()
	if sig == syscall.SIGTERM && err != nil {
		t.Errorf("relay child after SIGTERM: %v\n%s", err, c.stderr)
	}
	if c.stderr.Len() > 0 {
		t.Logf("relay child stderr:\n%s", c.stderr)
	}
}

// TestRelaySurvivesKill9 kills the relay process with SIGKILL again and
// again while events are appended. Every event still reaches Kafka, the
// first appearance of each stream's events is in revision order, and the
// repeats stay within the bound the checkpoint gives: per kill, the events
// in flight plus those acknowledged since the last checkpoint save.
func TestRelaySurvivesKill9(t *testing.T) {
	t.Parallel()
	testinfra.ForEachKafka(t, func(t *testing.T, kb testinfra.KafkaBackend) {
		t.Parallel()
		const (
			maxInFlight = 256
			interval    = 100 * time.Millisecond
			rate        = 500 // events appended per second
		)
		name := newContext(t)
		es := newClient(t, storeURL)
		w := newWriter(name, 10, 180, rate) // 1,800 events, 1,200 of them published
		cc := childConfig{StoreURL: storeURL, Brokers: kb.Brokers, Context: name, MaxInFlight: maxInFlight, CheckpointInterval: interval,
			Linger: 50 * time.Millisecond}

		writing := make(chan struct{})
		go func() {
			defer close(writing)
			w.run(t.Context(), es)
		}()
		// Kill at random moments until the writer is done and at least
		// minKills kills happened.
		const minKills = 8
		kills := 0
		for done := false; !done || kills < minKills; {
			c := startChild(t, cc)
			select {
			case <-writing:
				done = true
				writing = nil // blocks from now on; the timer decides
				<-time.After(time.Duration(rand.IntN(500)) * time.Millisecond)
			case <-time.After(time.Duration(200+rand.IntN(600)) * time.Millisecond):
			}
			c.signal(t, syscall.SIGKILL)
			kills++
			time.Sleep(time.Duration(rand.IntN(150)) * time.Millisecond)
		}
		want, total, err := w.want()
		if err != nil {
			t.Fatal(err)
		}

		last := startChild(t, cc)
		col := consumeWhenReady(t, kb.Brokers, messaging.TopicFor(name))
		col.waitDistinct(t, total, 30*time.Second)
		last.signal(t, syscall.SIGTERM)
		recs := col.snapshot()

		dups, problems := orderReport(recs, want)
		for _, p := range problems[:min(len(problems), 20)] {
			t.Error(p)
		}
		// Per kill: at most the window in flight plus what was acknowledged
		// in a checkpoint interval (and the save's own latency). The
		// relay's throughput after a restart, while it catches up, is not
		// bounded by the append rate, so the bound allows a whole second of
		// appends per kill for it.
		bound := kills * (maxInFlight + rate)
		t.Logf("%s: %d events, %d records, %d kills, %d duplicates (%.1f per kill; bound %d)",
			kb.Name, total, len(recs), kills, dups, float64(dups)/float64(kills), bound)
		if dups > bound {
			t.Errorf("%d duplicates after %d kills, more than the bound %d", dups, kills, bound)
		}
	})
}
