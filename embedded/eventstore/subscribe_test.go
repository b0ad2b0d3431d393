package eventstore

import (
	"strings"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
)

// next waits for the next subscription message other than a checkpoint
// (unless wantCheckpoints).
func next(t *testing.T, sub *esdb.Subscription) *esdb.SubscriptionEvent {
	t.Helper()
	ch := make(chan *esdb.SubscriptionEvent, 1)
	go func() { ch <- sub.Recv() }()
	select {
	case e := <-ch:
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no subscription message within 10s")
		return nil
	}
}

// drain reads messages until caughtUp (when untilCaughtUp) or n events,
// returning the events and checkpoints seen.
func readSub(t *testing.T, sub *esdb.Subscription, n int, untilCaughtUp bool) (evs []*esdb.ResolvedEvent, checkpoints []esdb.Position) {
	t.Helper()
	for {
		if !untilCaughtUp && len(evs) == n {
			return
		}
		m := next(t, sub)
		switch {
		case m.SubscriptionDropped != nil:
			t.Fatalf("subscription dropped: %v", m.SubscriptionDropped.Error)
		case m.EventAppeared != nil:
			evs = append(evs, m.EventAppeared)
		case m.CheckPointReached != nil:
			checkpoints = append(checkpoints, *m.CheckPointReached)
		case m.CaughtUp != nil:
			if untilCaughtUp {
				return
			}
		}
	}
}

func TestSubscribeToStream(t *testing.T) {
	t.Parallel()
	s := startServer(t, Config{})
	c := newClient(t, s.URL())
	ctx := ctxT(t)
	stream := newStream("sub")
	other := newStream("other")
	if _, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{}, events(3, "x")...); err != nil {
		t.Fatal(err)
	}
	fromStart, err := c.SubscribeToStream(ctx, stream, esdb.SubscribeToStreamOptions{From: esdb.Start{}})
	if err != nil {
		t.Fatal(err)
	}
	defer fromStart.Close()
	fromRev, err := c.SubscribeToStream(ctx, stream, esdb.SubscribeToStreamOptions{From: esdb.Revision(1)})
	if err != nil {
		t.Fatal(err)
	}
	defer fromRev.Close()
	fromEnd, err := c.SubscribeToStream(ctx, stream, esdb.SubscribeToStreamOptions{From: esdb.End{}})
	if err != nil {
		t.Fatal(err)
	}
	defer fromEnd.Close()

	hist, _ := readSub(t, fromStart, 0, true)
	if got := revisions(hist); len(got) != 3 || got[0] != 0 || got[2] != 2 {
		t.Fatalf("catch-up from start = %v, want [0 1 2]", got)
	}
	hist, _ = readSub(t, fromRev, 0, true)
	if got := revisions(hist); len(got) != 1 || got[0] != 2 {
		t.Fatalf("catch-up from revision 1 = %v, want [2] (exclusive)", got)
	}
	hist, _ = readSub(t, fromEnd, 0, true)
	if len(hist) != 0 {
		t.Fatalf("catch-up from end delivered %d events", len(hist))
	}

	if _, err := c.AppendToStream(ctx, other, esdb.AppendToStreamOptions{}, events(2, "x")...); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{}, events(2, "x")...); err != nil {
		t.Fatal(err)
	}
	for name, sub := range map[string]*esdb.Subscription{"start": fromStart, "revision": fromRev, "end": fromEnd} {
		live, _ := readSub(t, sub, 2, false)
		if got := revisions(live); got[0] != 3 || got[1] != 4 || live[0].OriginalEvent().StreamID != stream {
			t.Errorf("live events from %s = %v", name, got)
		}
	}
}

func TestSubscribeToAllWithFilters(t *testing.T) {
	t.Parallel()
	s := startServer(t, Config{})
	c := newClient(t, s.URL())
	ctx := ctxT(t)
	prefix := newStream("flt")
	cat, ord := prefix+"-catalog", prefix+"-ordering"
	if _, err := c.AppendToStream(ctx, cat, esdb.AppendToStreamOptions{}, events(2, "catalog.listed")...); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AppendToStream(ctx, ord, esdb.AppendToStreamOptions{}, events(40, "ordering.placed")...); err != nil {
		t.Fatal(err)
	}

	byStream, err := c.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{
		From:   esdb.Start{},
		Filter: &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: []string{cat}},
		// one checkpoint per 4 filtered-out events
		MaxSearchWindow: 2, CheckpointInterval: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer byStream.Close()
	byType, err := c.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{
		From:   esdb.Start{},
		Filter: &esdb.SubscriptionFilter{Type: esdb.EventFilterType, Regex: `^ordering\.`},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer byType.Close()
	all, err := c.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{From: esdb.Start{}})
	if err != nil {
		t.Fatal(err)
	}
	defer all.Close()

	evs, cps := readSub(t, byStream, 0, true)
	if len(evs) != 2 || evs[0].OriginalEvent().StreamID != cat {
		t.Fatalf("stream-prefix filter delivered %d events", len(evs))
	}
	if len(cps) != 10 {
		t.Errorf("got %d checkpoints for 40 filtered-out events at interval 4, want 10", len(cps))
	}
	for i := 1; i < len(cps); i++ {
		if cps[i].Commit <= cps[i-1].Commit {
			t.Errorf("checkpoints not ascending: %v", cps)
		}
	}
	evs, _ = readSub(t, byType, 0, true)
	if len(evs) != 40 || evs[0].OriginalEvent().EventType != "ordering.placed" {
		t.Fatalf("event-type regex filter delivered %d events", len(evs))
	}
	evs, _ = readSub(t, all, 0, true)
	if len(evs) < 42 {
		t.Fatalf("unfiltered $all catch-up delivered %d events, want at least 42", len(evs))
	}

	// Live: the filters still apply.
	if _, err := c.AppendToStream(ctx, ord, esdb.AppendToStreamOptions{}, events(1, "ordering.placed")...); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AppendToStream(ctx, cat, esdb.AppendToStreamOptions{}, events(1, "catalog.listed")...); err != nil {
		t.Fatal(err)
	}
	evs, _ = readSub(t, byStream, 1, false)
	if evs[0].OriginalEvent().StreamID != cat || evs[0].OriginalEvent().EventNumber != 2 {
		t.Errorf("live stream filter delivered %s@%d", evs[0].OriginalEvent().StreamID, evs[0].OriginalEvent().EventNumber)
	}
	evs, _ = readSub(t, byType, 1, false)
	if evs[0].OriginalEvent().StreamID != ord || evs[0].OriginalEvent().EventNumber != 40 {
		t.Errorf("live type filter delivered %s@%d", evs[0].OriginalEvent().StreamID, evs[0].OriginalEvent().EventNumber)
	}
}

func TestSubscribeToAllFromPosition(t *testing.T) {
	t.Parallel()
	s := startServer(t, Config{})
	c := newClient(t, s.URL())
	ctx := ctxT(t)
	stream := newStream("pos")
	if _, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{}, events(5, "x")...); err != nil {
		t.Fatal(err)
	}
	hist, err := collect(c.ReadAll(ctx, esdb.ReadAllOptions{}, 100))
	if err != nil {
		t.Fatal(err)
	}
	p := hist[1].OriginalEvent().Position
	sub, err := c.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{From: p})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	evs, _ := readSub(t, sub, 0, true)
	if len(evs) != 3 || evs[0].OriginalEvent().Position.Commit <= p.Commit {
		t.Fatalf("subscription from position %d delivered %v, want the 3 events after it", p.Commit, positions(evs))
	}
	end, err := c.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{From: esdb.End{}})
	if err != nil {
		t.Fatal(err)
	}
	defer end.Close()
	if evs, _ := readSub(t, end, 0, true); len(evs) != 0 {
		t.Fatalf("subscription from end delivered %d historical events", len(evs))
	}
	if _, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{}, events(1, "x")...); err != nil {
		t.Fatal(err)
	}
	live, _ := readSub(t, end, 1, false)
	if live[0].OriginalEvent().EventNumber != 5 {
		t.Errorf("live event revision %d, want 5", live[0].OriginalEvent().EventNumber)
	}
}

func TestSlowSubscriberIsDroppedAndAppendsGoOn(t *testing.T) {
	t.Parallel()
	s := startServer(t, Config{SubscriberBuffer: 8})
	c := newClient(t, s.URL())
	ctx := ctxT(t)
	stream := newStream("slow")
	sub, err := c.SubscribeToStream(ctx, stream, esdb.SubscribeToStreamOptions{From: esdb.Start{}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	readSub(t, sub, 0, true)
	// The consumer reads nothing while 24 MB of events are appended: more
	// than gRPC's flow-control windows can ever absorb (BDP estimation
	// grows them to 16 MB at most), so the server's sends must block and
	// the subscription's buffer overflow. Appends must not wait for it.
	start := time.Now()
	payload := `"` + strings.Repeat("p", 8000) + `"`
	for i := 0; i < 3000; i += 50 {
		evs := make([]esdb.EventData, 50)
		for j := range evs {
			evs[j] = jsonEvent("x", payload)
		}
		if _, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{}, evs...); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("appends took %v with a stalled subscriber", d)
	}
	for {
		m := next(t, sub)
		if m.SubscriptionDropped != nil {
			if !strings.Contains(m.SubscriptionDropped.Error.Error(), "fell more than 8 events behind") {
				t.Errorf("drop error = %v", m.SubscriptionDropped.Error)
			}
			return
		}
		if m.EventAppeared == nil {
			continue
		}
	}
}

func TestManySubscribers(t *testing.T) {
	t.Parallel()
	s := startServer(t, Config{})
	c := newClient(t, s.URL())
	ctx := ctxT(t)
	stream := newStream("many")
	const subscribers = 50
	subs := make([]*esdb.Subscription, subscribers)
	for i := range subs {
		var err error
		if i%2 == 0 {
			subs[i], err = c.SubscribeToStream(ctx, stream, esdb.SubscribeToStreamOptions{From: esdb.Start{}})
		} else {
			subs[i], err = c.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{From: esdb.Start{},
				Filter: &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: []string{stream}}})
		}
		if err != nil {
			t.Fatal(err)
		}
		defer subs[i].Close()
	}
	if _, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{}, events(20, "x")...); err != nil {
		t.Fatal(err)
	}
	for i, sub := range subs {
		evs, _ := readSub(t, sub, 20, false)
		for j, e := range evs {
			if e.OriginalEvent().EventNumber != uint64(j) {
				t.Fatalf("subscriber %d: event %d has revision %d", i, j, e.OriginalEvent().EventNumber)
			}
		}
	}
}
