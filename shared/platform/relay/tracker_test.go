package relay

import (
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
)

func pos(n uint64) esdb.Position { return esdb.Position{Commit: n, Prepare: n} }

// checkpointIs fails unless the tracker's safe position is n (0: none).
func checkpointIs(t *testing.T, tr *tracker, n uint64) {
	t.Helper()
	got, ok := tr.checkpoint()
	switch {
	case n == 0 && ok:
		t.Fatalf("checkpoint = %d, want none", got.Commit)
	case n != 0 && (!ok || got != pos(n)):
		t.Fatalf("checkpoint = %d (ok %v), want %d", got.Commit, ok, n)
	}
}

// publishAt publishes the event at position p and reports it handled, as
// the relay's handler and the subscription do.
func publishAt(tr *tracker, p uint64) uint64 {
	s := tr.publish("s", p, time.Now())
	tr.handled(pos(p))
	return s
}

func TestTrackerCheckpointIsBelowEveryUnacknowledgedEvent(t *testing.T) {
	t.Parallel()
	tr := newTracker(4)
	tr.start(pos(10), true)
	checkpointIs(t, tr, 10)

	s11 := publishAt(tr, 11)
	tr.handled(pos(12)) // private
	s13 := publishAt(tr, 13)
	s14 := publishAt(tr, 14)
	tr.handled(pos(20)) // the server's checkpoint past filtered-out events
	checkpointIs(t, tr, 10)

	tr.ack(s13) // out of order: 11 still pending
	tr.ack(s14)
	checkpointIs(t, tr, 10)
	if n, _ := tr.pending(); n != 1 {
		t.Fatalf("pending = %d, want 1", n)
	}
	tr.ack(s11)
	checkpointIs(t, tr, 20)
	if n, _ := tr.pending(); n != 0 {
		t.Fatalf("pending = %d, want 0", n)
	}

	// Nothing in flight: a handled position is safe at once.
	tr.handled(pos(25))
	checkpointIs(t, tr, 25)
}

func TestTrackerFailureHoldsTheCheckpoint(t *testing.T) {
	t.Parallel()
	tr := newTracker(8)
	a := publishAt(tr, 1)
	b := publishAt(tr, 2)
	c := publishAt(tr, 3)
	tr.ack(a)
	tr.fail(b)
	tr.ack(c)
	checkpointIs(t, tr, 1)
	if inv := tr.inversions(); len(inv) != 1 {
		t.Fatalf("inversions = %v, want s@3 acknowledged after s@2 failed", inv)
	}

	// Failures of other streams, or of the later revision, are no inversion.
	tr = newTracker(8)
	x := tr.publish("x", 0, time.Now())
	y := tr.publish("y", 0, time.Now())
	x1 := tr.publish("x", 1, time.Now())
	tr.fail(x)
	tr.ack(y)
	tr.fail(x1)
	if inv := tr.inversions(); len(inv) != 0 {
		t.Fatalf("inversions = %v, want none", inv)
	}
}

func TestTrackerWrapsAroundItsWindow(t *testing.T) {
	t.Parallel()
	tr := newTracker(3) // rounds up to 4
	var p uint64
	for round := 0; round < 100; round++ {
		var seqs []uint64
		for i := 0; i < 3; i++ {
			p++
			seqs = append(seqs, publishAt(tr, p))
		}
		for i := len(seqs) - 1; i >= 0; i-- {
			tr.ack(seqs[i])
		}
		checkpointIs(t, tr, p)
	}
	if len(tr.marks)-tr.first > 1 || cap(tr.marks) > 16 {
		t.Fatalf("marks queue holds %d (cap %d) with nothing in flight", len(tr.marks)-tr.first, cap(tr.marks))
	}
}

// The window counts from the oldest unacknowledged event, so a slow
// partition holds the others back instead of overrunning the ring.
func TestTrackerWindowCountsFromTheOldestUnacknowledged(t *testing.T) {
	t.Parallel()
	tr := newTracker(3)
	a := publishAt(tr, 1)
	b := publishAt(tr, 2)
	publishAt(tr, 3)
	if tr.hasRoom() {
		t.Fatal("room with 3 of 3 in flight")
	}
	tr.ack(b)
	if tr.hasRoom() {
		t.Fatal("room after acknowledging a later event while the oldest is pending")
	}
	if n, _ := tr.pending(); n != 2 {
		t.Fatalf("pending = %d, want 2", n)
	}
	tr.ack(a)
	select {
	case <-tr.room:
	default:
		t.Fatal("no signal when the oldest was acknowledged")
	}
	if !tr.hasRoom() {
		t.Fatal("no room after the oldest was acknowledged")
	}
}
