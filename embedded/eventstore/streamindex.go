package eventstore

import "sync"

// streamIndexLimit bounds the streams the read index remembers; past it the
// index forgets part of them, which are then looked up in Pebble again.
const streamIndexLimit = 200_000

// streamIndex remembers the durable tail of recently read or written
// streams (metadata streams included), so that a read of a short or missing
// stream need not search Pebble's index for its last revision, nor for its
// metadata stream.
//
// An entry is exact for every watermark at or above its asOf: the
// acknowledger applies each durable change to the index (creating the entry
// if need be) before it advances the watermark past it, so no change at or
// below a reader's watermark can be missing from an entry the reader finds
// with asOf at or below that watermark. A reader that misses looks in
// Pebble as of its watermark w and fills the entry, unless that could make
// it stale: when the entry is there with newer knowledge (a change above w
// reached it meanwhile), or when it is absent and the index forgot entries
// holding changes above w (floor), which the reader's view would lack and
// no later publish would bring back.
type streamIndex struct {
	mu        sync.RWMutex
	m         map[string]indexEntry
	limit     int    // 0: streamIndexLimit
	published uint64 // position of the latest change published
	floor     uint64 // published when entries were last forgotten
}

// indexEntry is a stream's durable tail as of asOf.
type indexEntry struct {
	asOf       uint64 // the entry holds for watermarks at or above this position
	lastRev    int64  // -1: no event (the tombstone excluded)
	tail       tailPositions
	tombstoned bool
	// unknown marks a change the acknowledger could not fold in (a
	// tombstone of a stream it did not know): readers look in Pebble.
	unknown bool
}

// lookup returns the entry of name if it holds at watermark w.
func (x *streamIndex) lookup(name string, w uint64) (indexEntry, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	e, ok := x.m[name]
	return e, ok && !e.unknown && e.asOf <= w
}

// fill records what a reader found in Pebble as of e.asOf, the reader's
// watermark, unless the index knows newer or may have forgotten newer.
func (x *streamIndex) fill(name string, e indexEntry) {
	x.mu.Lock()
	defer x.mu.Unlock()
	old, ok := x.m[name]
	switch {
	case ok && (old.asOf > e.asOf || old.asOf == e.asOf && !old.unknown):
		return
	case !ok && e.asOf < x.floor:
		return
	}
	x.put(name, e)
}

// publish folds a durable group's events into the index. The caller must
// then, and only then, advance the watermark past them.
func (x *streamIndex) publish(events []*liveEvent) {
	if len(events) == 0 {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, ev := range events {
		x.published = ev.pos
		old, ok := x.m[ev.stream]
		e := indexEntry{asOf: ev.pos}
		switch {
		case ev.rev != tombstoneRevision:
			// An append is refused on a tombstoned stream, so the stream
			// is not tombstoned, and its tail is this event.
			e.lastRev = ev.rev
			if ok && !old.unknown && old.lastRev == ev.rev-1 {
				e.tail = old.tail
			}
			e.tail.push(ev.pos)
		case ok && !old.unknown:
			e.lastRev, e.tail, e.tombstoned = old.lastRev, old.tail, true
		default:
			e.unknown = true
		}
		x.put(ev.stream, e)
		if ev.noMeta {
			// The writer saw no metadata event before this one, and any
			// later one is published after it.
			name := metadataStreamPrefix + ev.stream
			if _, ok := x.m[name]; !ok {
				x.put(name, indexEntry{asOf: ev.pos, lastRev: -1})
			}
		}
	}
}

// put stores an entry, forgetting a quarter of the index when it is full.
// The caller holds mu.
func (x *streamIndex) put(name string, e indexEntry) {
	if x.m == nil {
		x.m = map[string]indexEntry{}
	}
	limit := x.limit
	if limit == 0 {
		limit = streamIndexLimit
	}
	if _, ok := x.m[name]; !ok && len(x.m) >= limit {
		// Every entry forgotten holds changes at or below published.
		x.floor = x.published
		drop := max(len(x.m)/4, 1)
		for k := range x.m {
			if drop == 0 {
				break
			}
			delete(x.m, k)
			drop--
		}
	}
	x.m[name] = e
}

// tailLen is how many of a stream's last positions the index keeps, so that
// a read of the last few events finds them without the stream's index.
const tailLen = 4

// tailPositions are the positions of a stream's last revisions: pos[i] is
// the position of revision lastRev-i, for i < n.
type tailPositions struct {
	pos [tailLen]uint64
	n   int
}

// push records the position of the revision after lastRev.
func (t *tailPositions) push(pos uint64) {
	copy(t.pos[1:], t.pos[:tailLen-1])
	t.pos[0] = pos
	t.n = min(t.n+1, tailLen)
}

// of returns the position of revision rev of a stream whose last revision
// is lastRev, if it is among those kept.
func (t *tailPositions) of(rev, lastRev int64) (uint64, bool) {
	d := lastRev - rev
	if d < 0 || d >= int64(t.n) {
		return 0, false
	}
	return t.pos[d], true
}
