package eventstoretest

import (
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

// received is what a subscription delivered, in order.
type received struct {
	events      []*esdb.RecordedEvent
	checkpoints []esdb.Position
	// caughtUpAt is how many events had arrived when caught-up did; -1
	// until it does.
	caughtUpAt int
}

// recvUntil reads sub until stop says so; the subscription's context
// bounds the wait (a drop fails the test).
func recvUntil(t *testing.T, sub *esdb.Subscription, stop func(r *received) bool) *received {
	t.Helper()
	r := &received{caughtUpAt: -1}
	for !stop(r) {
		msg := sub.Recv()
		switch {
		case msg.SubscriptionDropped != nil:
			t.Fatalf("subscription dropped after %d events, %d checkpoints: %v", len(r.events), len(r.checkpoints), msg.SubscriptionDropped.Error)
		case msg.EventAppeared != nil:
			r.events = append(r.events, msg.EventAppeared.OriginalEvent())
		case msg.CheckPointReached != nil:
			r.checkpoints = append(r.checkpoints, *msg.CheckPointReached)
		case msg.CaughtUp != nil:
			if r.caughtUpAt < 0 {
				r.caughtUpAt = len(r.events)
			}
		}
	}
	return r
}

func hasEvent(id uuid.UUID) func(r *received) bool {
	return func(r *received) bool {
		for _, e := range r.events {
			if e.EventID == id {
				return true
			}
		}
		return false
	}
}

func subscribeAll(t *testing.T, c *esdb.Client, opts esdb.SubscribeToAllOptions) *esdb.Subscription {
	t.Helper()
	sub, err := c.SubscribeToAll(testCtx(t), opts)
	if err != nil {
		t.Fatalf("subscribe to $all: %v", err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	return sub
}

// filterCase appends events to streams of three names and two types and
// checks that a filtered subscription delivers exactly the selected ones,
// in order.
func filterCase(t *testing.T, c *esdb.Client, filter func(prefix string) *esdb.SubscriptionFilter, selects func(stream, eventType, prefix string) bool) {
	prefix := unique("cf")
	from := headPosition(t, c)
	streams := []string{prefix + "a-1", prefix + "b-1", unique("cz") + prefix + "-1"}
	types := []string{prefix + ".x.one", prefix + ".y.two"}
	var want []string
	var last uuid.UUID
	for i := range 2 {
		for _, s := range streams {
			for _, ty := range types {
				ev := newEvent(ty, i)
				mustAppend(t, c, s, esdb.Any{}, ev)
				if selects(s, ty, prefix) {
					want = append(want, ev.EventID.String())
					last = ev.EventID
				}
			}
		}
	}
	sub := subscribeAll(t, c, esdb.SubscribeToAllOptions{From: from, Filter: filter(prefix)})
	got := recvUntil(t, sub, hasEvent(last))
	if ids := eventIDs(got.events); !equalStrings(ids, want) {
		t.Fatalf("filtered subscription delivered %d events %v, want %d %v", len(ids), ids, len(want), want)
	}
}

func testFilterStreamPrefix(t *testing.T, c *esdb.Client) {
	filterCase(t, c,
		func(p string) *esdb.SubscriptionFilter {
			return &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: []string{p + "a-"}}
		},
		func(s, _, p string) bool { return s == p+"a-1" })
}

func testFilterEventTypePrefix(t *testing.T, c *esdb.Client) {
	filterCase(t, c,
		func(p string) *esdb.SubscriptionFilter {
			return &esdb.SubscriptionFilter{Type: esdb.EventFilterType, Prefixes: []string{p + ".x."}}
		},
		func(_, ty, p string) bool { return ty == p+".x.one" })
}

func testFilterRegex(t *testing.T, c *esdb.Client) {
	filterCase(t, c,
		func(p string) *esdb.SubscriptionFilter {
			return &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Regex: "^" + p + "[ab]-"}
		},
		func(s, _, p string) bool { return s == p+"a-1" || s == p+"b-1" })
}

// testCheckpoints checks that a filtered subscription reports its progress
// through events it skips, and that a subscription started from a reported
// position delivers only what follows it.
func testCheckpoints(t *testing.T, c *esdb.Client) {
	prefix := unique("contract_cp")
	from := headPosition(t, c)
	noise := unique("contract_noise-")
	mustAppend(t, c, noise, esdb.NoStream{}, newEvents("contract.noise", 100)...)
	first := newEvent("contract.matched", 0)
	mustAppend(t, c, prefix+"-1", esdb.NoStream{}, first)

	filter := &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: []string{prefix}}
	sub := subscribeAll(t, c, esdb.SubscribeToAllOptions{From: from, Filter: filter, MaxSearchWindow: 10, CheckpointInterval: 1})
	got := recvUntil(t, sub, hasEvent(first.EventID))
	if len(got.checkpoints) == 0 {
		// Some stores report progress only while live: give it more to skip.
		mustAppend(t, c, noise, esdb.Any{}, newEvents("contract.noise", 100)...)
		more := recvUntil(t, sub, func(r *received) bool { return len(r.checkpoints) > 0 })
		got.checkpoints = append(got.checkpoints, more.checkpoints...)
		got.events = append(got.events, more.events...)
	}
	if len(got.events) != 1 {
		t.Fatalf("filtered subscription delivered %v, want only %s", eventIDs(got.events), first.EventID)
	}
	for i, cp := range got.checkpoints {
		if start, ok := from.(esdb.Position); ok && eventstore.PositionAfter(start, cp) {
			t.Fatalf("checkpoint %+v is before the subscription's start %+v", cp, start)
		}
		if i > 0 && eventstore.PositionAfter(got.checkpoints[i-1], cp) {
			t.Fatalf("checkpoints go backwards: %+v then %+v", got.checkpoints[i-1], cp)
		}
	}

	second := newEvent("contract.matched", 1)
	mustAppend(t, c, prefix+"-1", esdb.Revision(0), second)
	cp := got.checkpoints[0]
	resumed := recvUntil(t, subscribeAll(t, c, esdb.SubscribeToAllOptions{From: cp, Filter: filter, MaxSearchWindow: 10, CheckpointInterval: 1}), hasEvent(second.EventID))
	var want []string
	for _, e := range []*esdb.RecordedEvent{got.events[0]} {
		if eventstore.PositionAfter(e.Position, cp) {
			want = append(want, e.EventID.String())
		}
	}
	want = append(want, second.EventID.String())
	if ids := eventIDs(resumed.events); !equalStrings(ids, want) {
		t.Fatalf("resumed from checkpoint %+v: got %v, want %v (positions are exclusive)", cp, ids, want)
	}
}

func testCaughtUpThenLive(t *testing.T, c *esdb.Client) {
	prefix := unique("contract_live")
	from := headPosition(t, c)
	mustAppend(t, c, prefix+"-1", esdb.NoStream{}, newEvents("contract.before", 3)...)

	sub := subscribeAll(t, c, esdb.SubscribeToAllOptions{From: from, Filter: &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: []string{prefix}}})
	got := recvUntil(t, sub, func(r *received) bool { return r.caughtUpAt >= 0 && len(r.events) >= 3 })
	if got.caughtUpAt != 3 {
		t.Fatalf("caught up after %d events, want after the 3 that existed", got.caughtUpAt)
	}
	live := newEvents("contract.live", 2)
	mustAppend(t, c, prefix+"-1", esdb.Revision(2), live...)
	more := recvUntil(t, sub, hasEvent(live[1].EventID))
	if ids := eventIDs(more.events); !equalStrings(ids, []string{live[0].EventID.String(), live[1].EventID.String()}) {
		t.Fatalf("live events %v, want the 2 appended after catching up", ids)
	}
}

func testStreamSubscription(t *testing.T, c *esdb.Client) {
	stream := unique("contract_sub-")
	evs := newEvents("contract.sub", 4)
	mustAppend(t, c, stream, esdb.NoStream{}, evs[:3]...)

	subscribe := func(from esdb.StreamPosition) *esdb.Subscription {
		sub, err := c.SubscribeToStream(testCtx(t), stream, esdb.SubscribeToStreamOptions{From: from})
		if err != nil {
			t.Fatalf("subscribe to %s: %v", stream, err)
		}
		t.Cleanup(func() { _ = sub.Close() })
		return sub
	}
	fromStart := subscribe(esdb.Start{})
	got := recvUntil(t, fromStart, func(r *received) bool { return r.caughtUpAt >= 0 })
	if !equalUints(revisions(got.events), []uint64{0, 1, 2}) || got.caughtUpAt != 3 {
		t.Fatalf("from start: revisions %v, caught up after %d; want [0 1 2] then caught up", revisions(got.events), got.caughtUpAt)
	}
	fromRevision := subscribe(esdb.Revision(1))
	fromEnd := subscribe(esdb.End{})
	// The subscription from End has confirmed, so what follows is new to it.
	mustAppend(t, c, stream, esdb.Revision(2), evs[3])

	if live := recvUntil(t, fromStart, hasEvent(evs[3].EventID)); !equalUints(revisions(live.events), []uint64{3}) {
		t.Fatalf("from start, live: revisions %v, want [3]", revisions(live.events))
	}
	if r := recvUntil(t, fromRevision, hasEvent(evs[3].EventID)); !equalUints(revisions(r.events), []uint64{2, 3}) {
		t.Fatalf("from revision 1: revisions %v, want [2 3] (exclusive start)", revisions(r.events))
	}
	if r := recvUntil(t, fromEnd, hasEvent(evs[3].EventID)); !equalUints(revisions(r.events), []uint64{3}) {
		t.Fatalf("from end: revisions %v, want [3]", revisions(r.events))
	}
}

// testDropAndResubscribe checks what a subscriber that lost its
// subscription relies on: the drop is reported, and subscribing again from
// the last event it handled delivers the rest with no gap and no repeat.
func testDropAndResubscribe(t *testing.T, c *esdb.Client) {
	prefix := unique("contract_drop")
	from := headPosition(t, c)
	evs := newEvents("contract.drop", 4)
	mustAppend(t, c, prefix+"-1", esdb.NoStream{}, evs...)
	filter := &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: []string{prefix}}

	sub := subscribeAll(t, c, esdb.SubscribeToAllOptions{From: from, Filter: filter})
	first := recvUntil(t, sub, func(r *received) bool { return len(r.events) == 2 })
	_ = sub.Close()
	dropped := false
	for range 1000 {
		msg := sub.Recv()
		if msg.SubscriptionDropped != nil {
			dropped = true
			break
		}
	}
	if !dropped {
		t.Fatal("a closed subscription did not report a drop")
	}

	resumed := recvUntil(t, subscribeAll(t, c, esdb.SubscribeToAllOptions{From: first.events[1].Position, Filter: filter}), hasEvent(evs[3].EventID))
	if !equalUints(revisions(resumed.events), []uint64{2, 3}) {
		t.Fatalf("resubscribed after revision 1: revisions %v, want [2 3]", revisions(resumed.events))
	}
}
