package eventstore

import "sync/atomic"

// Recent events kept in memory: the last recentSlots durable events of at
// most recentMaxSize bytes each, so at most 64 MiB of stored bytes.
const (
	recentSlots   = 16384
	recentMaxSize = 4096
)

// recentEvents keeps the latest durable events by position, so that a read
// of what was just written (an aggregate loaded again after its append, a
// context reading the event that triggered it) skips Pebble. Positions are
// dense, so position p lives in slot p mod recentSlots until a later event
// takes the slot. Durable events never change, so a reader needs no more
// than the slot's atomic load.
type recentEvents struct {
	slots [recentSlots]atomic.Pointer[liveEvent]
}

// add keeps durable events.
func (r *recentEvents) add(events []*liveEvent) {
	for _, ev := range events {
		if len(ev.proto) <= recentMaxSize {
			r.slots[ev.pos%recentSlots].Store(ev)
		} else {
			r.slots[ev.pos%recentSlots].Store(nil)
		}
	}
}

// get returns the stored RecordedEvent at pos if it is still kept.
func (r *recentEvents) get(pos uint64) ([]byte, bool) {
	ev := r.slots[pos%recentSlots].Load()
	if ev == nil || ev.pos != pos {
		return nil, false
	}
	return ev.proto, true
}
