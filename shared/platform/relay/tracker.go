package relay

import (
	"strconv"
	"sync"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

// tracker turns out-of-order acknowledgements into a safe checkpoint: the
// highest $all position below which every published event is acknowledged.
// Published events get consecutive sequence numbers; the subscription
// reports handled positions as marks ("everything up to pos is handled,
// and the publications it needed are the sequence numbers below seq"). A
// mark becomes safe once every sequence number below its seq is
// acknowledged. Safe for concurrent use.
type tracker struct {
	room   chan struct{} // signalled when head moves
	window uint64        // at most this many sequence numbers from head on

	mu      sync.Mutex
	next    uint64   // the sequence number the next publication gets
	head    uint64   // the lowest sequence number not yet acknowledged
	open    int      // publications neither acknowledged nor failed
	acked   []bool   // ring: acknowledged, indexed by seq & mask
	failed  []bool   // ring: failed by the producer
	created []int64  // ring: occurred-at (unix ns) of each publication
	stream  []string // ring: source stream...
	rev     []uint64 // ...and revision of each publication
	mask    uint64   // len(acked)-1, a power of two minus one
	marks   []mark   // FIFO of positions waiting for acknowledgements...
	first   int      // ...from marks[first] on
	safe    esdb.Position
	hasSafe bool
}

type mark struct {
	seq uint64 // safe once head >= seq
	pos esdb.Position
}

// newTracker returns a tracker that lets at most window sequence numbers,
// from the oldest unacknowledged one on, be assigned at a time.
func newTracker(window int) *tracker {
	size := 1
	for size < window {
		size <<= 1
	}
	return &tracker{
		room:    make(chan struct{}, 1),
		window:  uint64(window),
		acked:   make([]bool, size),
		failed:  make([]bool, size),
		created: make([]int64, size),
		stream:  make([]string, size),
		rev:     make([]uint64, size),
		mask:    uint64(size - 1),
	}
}

// start sets the position the subscription starts after (when ok): safe
// before anything is handled.
func (t *tracker) start(from esdb.Position, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ok {
		t.advance(from)
	}
}

// hasRoom reports whether publish may be called: fewer than window
// sequence numbers are assigned from the oldest unacknowledged one on. A
// single waiter that finds no room waits on t.room and asks again.
func (t *tracker) hasRoom() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.next-t.head < t.window
}

// publish assigns the next sequence number to the publication of stream's
// revision rev, which occurred at occurred. The caller checks hasRoom first.
func (t *tracker) publish(stream string, rev uint64, occurred time.Time) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	seq := t.next
	t.next++
	t.open++
	i := seq & t.mask
	t.acked[i], t.failed[i] = false, false
	t.created[i] = occurred.UnixNano()
	t.stream[i], t.rev[i] = stream, rev
	return seq
}

// fail records that the producer failed seq. It stays unacknowledged, so the
// checkpoint never passes it.
func (t *tracker) fail(seq uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if seq >= t.head && seq < t.next && !t.failed[seq&t.mask] {
		t.failed[seq&t.mask] = true
		t.open--
	}
}

// inversions lists the streams of which Kafka acknowledged a revision after
// failing an earlier one, in the publications still tracked (every one from
// the first failure on, since the checkpoint cannot pass a failure). A
// consumer that skips revisions at or below the last it applied would miss
// the failed one when it is republished. The relay's poisoned encoder makes
// this all but impossible; the check proves it per session.
func (t *tracker) inversions() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	firstFailed := map[string]uint64{}
	var out []string
	for seq := t.head; seq < t.next; seq++ {
		i := seq & t.mask
		s := t.stream[i]
		switch {
		case t.failed[i]:
			if r, ok := firstFailed[s]; !ok || t.rev[i] < r {
				firstFailed[s] = t.rev[i]
			}
		case t.acked[i]:
			if r, ok := firstFailed[s]; ok && t.rev[i] > r {
				out = append(out, s+"@"+strconv.FormatUint(t.rev[i], 10)+" acknowledged after "+s+"@"+strconv.FormatUint(r, 10)+" failed")
			}
		}
	}
	return out
}

// handled records that every event up to pos has been handled: published
// (with a sequence number already assigned) or skipped.
func (t *tracker) handled(pos esdb.Position) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.head == t.next && t.first == len(t.marks) {
		t.advance(pos)
		return
	}
	if n := len(t.marks); n > t.first && t.marks[n-1].seq == t.next {
		// Same publications needed: the later position supersedes.
		if eventstore.PositionAfter(pos, t.marks[n-1].pos) {
			t.marks[n-1].pos = pos
		}
		return
	}
	t.marks = append(t.marks, mark{seq: t.next, pos: pos})
}

// ack records Kafka's acknowledgement of seq.
func (t *tracker) ack(seq uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if seq < t.head || seq >= t.next || t.acked[seq&t.mask] {
		return
	}
	t.acked[seq&t.mask] = true
	t.open--
	moved := false
	for t.head < t.next && t.acked[t.head&t.mask] {
		t.stream[t.head&t.mask] = "" // let the string go
		t.head++
		moved = true
	}
	if moved {
		select {
		case t.room <- struct{}{}:
		default:
		}
	}
	for ; t.first < len(t.marks) && t.marks[t.first].seq <= t.head; t.first++ {
		t.advance(t.marks[t.first].pos)
	}
	// Compact once the consumed front outweighs the rest, so the queue's
	// memory stays proportional to what is in flight.
	if t.first > 0 && t.first >= len(t.marks)-t.first {
		n := copy(t.marks, t.marks[t.first:])
		t.marks, t.first = t.marks[:n], 0
	}
}

func (t *tracker) advance(pos esdb.Position) {
	if !t.hasSafe || eventstore.PositionAfter(pos, t.safe) {
		t.safe, t.hasSafe = pos, true
	}
}

// checkpoint returns the safe position; ok is false when there is none yet.
func (t *tracker) checkpoint() (pos esdb.Position, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.safe, t.hasSafe
}

// pending returns how many publications await an answer from Kafka and
// when the oldest unacknowledged one (awaiting an answer, or failed)
// occurred; zero when every one is acknowledged.
func (t *tracker) pending() (n int, oldest time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.head < t.next {
		oldest = time.Unix(0, t.created[t.head&t.mask])
	}
	return t.open, oldest
}
