package eventstore

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	api "github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// referenceView is the stream view as the store computed it before the
// stream index: both tails searched in Pebble on every read, as of w.
func referenceView(s *store, name string, w uint64) (streamView, error) {
	rev, _, tomb, err := s.lastEntry(name, w)
	if err != nil {
		return streamView{}, err
	}
	v := streamView{lastRev: rev, tombstoned: tomb}
	if isMetadataStream(name) {
		v.meta = streamMeta{maxCount: 1}
		return v, nil
	}
	mrev, mpos, _, err := s.lastEntry(metadataStreamPrefix+name, w)
	if err != nil || mrev < 0 {
		return v, err
	}
	_, ev, err := s.eventByPos(mpos)
	if err != nil {
		return v, err
	}
	v.meta = parseStreamMeta(ev.GetData())
	return v, nil
}

// referenceReadStream is readStream as it was before the stream index, the
// tail positions, the recent events and point reads: the reference the new
// read path must agree with, and the baseline of BenchmarkReadStreamShort.
func referenceReadStream(s *store, out *sender, name string, so *api.ReadReq_Options_StreamOptions, backwards bool, count uint64) error {
	w := s.durable.Load()
	v, err := referenceView(s, name, w)
	if err != nil {
		return err
	}
	if v.tombstoned {
		return streamDeletedError(name)
	}
	if v.notFound() {
		return out.notFound(name)
	}
	if count == 0 {
		return nil
	}
	minRev := v.minRev()
	var from, to int64
	if backwards {
		from, to = minRev, v.lastRev
		switch r := so.GetRevisionOption().(type) {
		case *api.ReadReq_Options_StreamOptions_Start:
			to = 0
		case *api.ReadReq_Options_StreamOptions_Revision:
			if r.Revision < uint64(to) {
				to = int64(r.Revision)
			}
		}
	} else {
		from, to = 0, v.lastRev
		switch r := so.GetRevisionOption().(type) {
		case *api.ReadReq_Options_StreamOptions_End:
			return nil
		case *api.ReadReq_Options_StreamOptions_Revision:
			if r.Revision > uint64(math.MaxInt64) {
				return nil
			}
			from = int64(r.Revision)
		}
		if from < minRev {
			from = minRev
		}
	}
	now := nowTicks()
	sent := uint64(0)
	return s.scanStream(name, from, to, backwards, w, func(_ int64, pos uint64, rec record) error {
		if v.expired(rec.created, now) {
			return nil
		}
		if err := out.event(rec.proto, pos); err != nil {
			return err
		}
		sent++
		if sent >= count {
			return errStopScan
		}
		return nil
	})
}

// captureRead is a Read stream that keeps the wire form of what is sent.
type captureRead struct {
	grpc.ServerStream
	msgs [][]byte
}

func (c *captureRead) Send(m *api.ReadResp) error {
	b, err := proto.Marshal(m)
	c.msgs = append(c.msgs, b)
	return err
}

func (c *captureRead) SendMsg(m any) error {
	r, ok := m.(rawMsg)
	if !ok {
		return fmt.Errorf("unexpected message %T", m)
	}
	c.msgs = append(c.msgs, slices.Clone(r))
	return nil
}

// readOutcome is what a read sends, or its error.
type readOutcome struct {
	msgs [][]byte
	err  string
}

func (o readOutcome) equal(p readOutcome) bool {
	return o.err == p.err && slices.EqualFunc(o.msgs, p.msgs, func(a, b []byte) bool { return string(a) == string(b) })
}

func readOutcomeOf(read func(out *sender) error) readOutcome {
	c := &captureRead{}
	err := read(&sender{srv: c})
	o := readOutcome{msgs: c.msgs}
	if err != nil {
		o.err = err.Error()
	}
	return o
}

// forget empties the stream index, as an overflow does.
func (x *streamIndex) forget() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.m = nil
	x.floor = x.published
}

func TestStreamIndex(t *testing.T) {
	t.Parallel()
	var x streamIndex
	at := x.lookup

	// A reader's fill holds for its watermark and later ones.
	if _, ok := x.lookup("s", 10); ok {
		t.Fatal("empty index answered")
	}
	x.fill("s", indexEntry{asOf: 10, lastRev: -1})
	if e, ok := at("s", 10); !ok || e.lastRev != -1 {
		t.Errorf("after fill at 10: %+v, %v", e, ok)
	}
	if _, ok := at("s", 9); ok {
		t.Error("an entry as of 10 answered a read at watermark 9")
	}

	// A write acknowledged after a reader looked makes that reader's fill
	// stale: it must not replace the entry.
	x.publish([]*liveEvent{{pos: 12, rev: 0, stream: "s"}})
	x.fill("s", indexEntry{asOf: 11, lastRev: -1})
	if e, ok := at("s", 12); !ok || e.lastRev != 0 || e.tail.pos[0] != 12 {
		t.Errorf("a stale fill replaced the published entry: %+v, %v", e, ok)
	}
	if _, ok := at("s", 11); ok {
		t.Error("an entry as of 12 answered a read at watermark 11")
	}

	// Once the index forgot a change, a fill as of an older watermark
	// would lack it and nothing would bring it back: refused. A fill as of
	// a watermark past every forgotten change is kept.
	x.publish([]*liveEvent{{pos: 25, rev: 0, stream: "t"}})
	x.forget()
	x.fill("t", indexEntry{asOf: 24, lastRev: -1})
	if _, ok := at("t", 30); ok {
		t.Error("a fill older than a forgotten change was kept")
	}
	x.fill("t", indexEntry{asOf: 25, lastRev: 0})
	if e, ok := at("t", 30); !ok || e.lastRev != 0 {
		t.Errorf("a fill as of the forgotten change: %+v, %v", e, ok)
	}

	// Tail positions follow consecutive appends, four at most.
	for rev := int64(0); rev < 6; rev++ {
		x.publish([]*liveEvent{{pos: 100 + uint64(rev)*2, rev: rev, stream: "u"}})
	}
	e, ok := at("u", 200)
	if !ok || e.lastRev != 5 || e.tail.n != tailLen {
		t.Fatalf("after six appends: %+v, %v", e, ok)
	}
	for rev := int64(0); rev < 6; rev++ {
		pos, ok := e.tail.of(rev, e.lastRev)
		if want := rev >= 6-tailLen; ok != want || ok && pos != 100+uint64(rev)*2 {
			t.Errorf("tail position of revision %d = %d, %v", rev, pos, ok)
		}
	}

	// An append the writer saw without metadata tells readers the
	// metadata stream is empty from then on, unless they know better.
	x.publish([]*liveEvent{{pos: 250, rev: 0, stream: "m", noMeta: true}})
	if e, ok := at("$$m", 250); !ok || e.lastRev != -1 {
		t.Errorf("metadata stream after an append without metadata: %+v, %v", e, ok)
	}
	if _, ok := at("$$m", 249); ok {
		t.Error("the metadata stream's absence answered a read before the append")
	}
	x.publish([]*liveEvent{{pos: 251, rev: 0, stream: "$$m"}, {pos: 252, rev: 1, stream: "m", noMeta: true}})
	if e, ok := at("$$m", 252); !ok || e.lastRev != 0 || e.asOf != 251 {
		t.Errorf("a later append without metadata hid a known metadata stream: %+v, %v", e, ok)
	}

	// A tombstone keeps a known tail; on an unknown stream it sends readers
	// to Pebble until one fills the entry as of the tombstone or later.
	x.publish([]*liveEvent{{pos: 300, rev: tombstoneRevision, stream: "u"}, {pos: 301, rev: tombstoneRevision, stream: "v"}})
	if e, ok := at("u", 300); !ok || !e.tombstoned || e.lastRev != 5 {
		t.Errorf("tombstoned known stream: %+v, %v", e, ok)
	}
	if _, ok := x.lookup("v", 301); ok {
		t.Error("the tombstone of an unknown stream answered a read")
	}
	x.fill("v", indexEntry{asOf: 300, lastRev: 3, tombstoned: false})
	if _, ok := at("v", 301); ok {
		t.Error("a fill from before the tombstone replaced it")
	}
	x.fill("v", indexEntry{asOf: 301, lastRev: 3, tombstoned: true})
	if e, ok := at("v", 301); !ok || !e.tombstoned {
		t.Errorf("fill as of the tombstone: %+v, %v", e, ok)
	}
}

func TestStreamIndexOverflow(t *testing.T) {
	t.Parallel()
	x := streamIndex{limit: 8}
	for i := range 9 {
		x.publish([]*liveEvent{{pos: uint64(i + 1), rev: 0, stream: fmt.Sprint("s", i)}})
	}
	if n := len(x.m); n > 8 {
		t.Errorf("index holds %d entries, limit 8", n)
	}
	if e, ok := x.m["s8"]; !ok || e.lastRev != 0 {
		t.Errorf("the entry that overflowed the index is missing: %+v", e)
	}
	x.fill("late", indexEntry{asOf: 1, lastRev: -1})
	if _, ok := x.m["late"]; ok {
		t.Error("a fill older than the overflow was kept")
	}

	// The race an overflow opens: a change is published (not yet durable),
	// a reader's fill of another stream overflows the index and forgets it,
	// and a reader whose watermark is below the change fills its stream
	// from Pebble. Readers at the change's position must not get that
	// stale view.
	y := streamIndex{limit: 1}
	y.publish([]*liveEvent{{pos: 5, rev: 0, stream: "a"}})
	y.fill("b", indexEntry{asOf: 4, lastRev: -1}) // forgets a
	y.fill("a", indexEntry{asOf: 4, lastRev: -1})
	if e, ok := y.lookup("a", 5); ok && e.lastRev != 0 {
		t.Errorf("a stale fill answers at the change's position: %+v", e)
	}
}

// TestShortReadsMatchReference drives random appends, metadata, soft
// deletes and tombstones on a few streams and after each one compares many
// reads of the stream (directions, revisions, counts) with the reference
// read path, once with the stream index as the operations left it and once
// after it forgot everything.
func TestShortReadsMatchReference(t *testing.T) {
	t.Parallel()
	s := startServer(t, Config{})
	c := newClient(t, s.URL())
	ctx := ctxT(t)
	rng := rand.New(rand.NewPCG(1, 2))
	streams := []string{newStream("ref"), newStream("ref"), newStream("ref"), "$$" + newStream("ref")}
	metas := []string{`{}`, `{"$maxCount":2}`, `{"$maxCount":1}`, `{"$tb":3}`, `{"$maxAge":3600}`, `{"$tb":1,"$maxCount":3}`, `not json`}
	reads := func(name string) {
		t.Helper()
		type read struct {
			so        *api.ReadReq_Options_StreamOptions
			backwards bool
			count     uint64
		}
		var rs []read
		for _, count := range []uint64{0, 1, 3, 9, 100} {
			for _, backwards := range []bool{false, true} {
				rs = append(rs,
					read{&api.ReadReq_Options_StreamOptions{RevisionOption: &api.ReadReq_Options_StreamOptions_Start{}}, backwards, count},
					read{&api.ReadReq_Options_StreamOptions{RevisionOption: &api.ReadReq_Options_StreamOptions_End{}}, backwards, count})
				for _, rev := range []uint64{0, 1, 2, 3, 5, 8, 11, 14, 18} {
					rs = append(rs, read{&api.ReadReq_Options_StreamOptions{RevisionOption: &api.ReadReq_Options_StreamOptions_Revision{Revision: rev}}, backwards, count})
				}
			}
		}
		for pass := range 2 {
			if pass == 1 {
				s.store.index.forget()
			}
			for _, r := range rs {
				want := readOutcomeOf(func(out *sender) error {
					return referenceReadStream(s.store, out, name, r.so, r.backwards, r.count)
				})
				got := readOutcomeOf(func(out *sender) error { return s.readStream(out, name, r.so, r.backwards, r.count) })
				if !got.equal(want) {
					t.Fatalf("read %s %v backwards=%v count=%d (index pass %d): got %d messages, %q; reference %d messages, %q",
						name, r.so.String(), r.backwards, r.count, pass, len(got.msgs), got.err, len(want.msgs), want.err)
				}
			}
		}
	}
	for step := range 80 {
		i := rng.IntN(len(streams))
		name := streams[i]
		switch op := rng.IntN(20); {
		case op < 13:
			_, _ = c.AppendToStream(ctx, name, esdb.AppendToStreamOptions{}, events(1+rng.IntN(3), "ref")...)
		case op < 17 && !isMetadataStream(name):
			ev := jsonEvent("$metadata", metas[rng.IntN(len(metas))])
			_, _ = c.AppendToStream(ctx, "$$"+name, esdb.AppendToStreamOptions{}, ev)
		case op < 19:
			_, _ = c.DeleteStream(ctx, name, esdb.DeleteStreamOptions{})
		default:
			if step > 50 {
				_, _ = c.TombstoneStream(ctx, name, esdb.TombstoneStreamOptions{})
			}
		}
		// The stream written, and every 10 steps all of them.
		for _, other := range streams {
			if other != name && step%10 != 9 {
				continue
			}
			reads(other)
			if !isMetadataStream(other) {
				reads("$$" + other)
			}
		}
		reads("ref-missing")
	}
}

// TestReadsSeeAcknowledgedWrites has writers append to their own streams
// while others read, with an index small enough to overflow all the time:
// every read after an acknowledged append must return exactly the events
// appended since the writer's previous read, and a backwards read of one
// event the last of them, for the writer and for any other reader.
func TestReadsSeeAcknowledgedWrites(t *testing.T) {
	t.Parallel()
	s := startServer(t, Config{})
	s.store.index.mu.Lock()
	s.store.index.limit = 16
	s.store.index.mu.Unlock()
	c := newClient(t, s.URL())
	ctx := ctxT(t)
	const writers, rounds, watchers = 16, 40, 4
	names := make([]string, writers)
	for w := range names {
		names[w] = newStream("ack")
	}
	// acked[w] is 1 + the last revision acknowledged to writer w.
	acked := make([]atomic.Uint64, writers)
	var wg sync.WaitGroup
	errs := make(chan error, writers+watchers)
	done := make(chan struct{})
	var watching sync.WaitGroup
	for range watchers {
		// Readers of others' streams: once an append is acknowledged,
		// no read may show the stream before it.
		watching.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				w := i % writers
				want := acked[w].Load()
				if want == 0 {
					continue
				}
				last, err := collect(c.ReadStream(ctx, names[w], esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1))
				if err != nil || len(last) != 1 || last[0].OriginalEvent().EventNumber < want-1 {
					errs <- fmt.Errorf("stream %d read as %v, %v after revision %d was acknowledged", w, revisions(last), err, want-1)
					return
				}
			}
		})
	}
	for w := range writers {
		wg.Go(func() {
			name := names[w]
			next := uint64(0)
			for r := range rounds {
				evs := events(1+r%3, "ack")
				if _, err := c.AppendToStream(ctx, name, esdb.AppendToStreamOptions{ExpectedRevision: expected(next)}, evs...); err != nil {
					errs <- err
					return
				}
				acked[w].Store(next + uint64(len(evs)))
				got, err := collect(c.ReadStream(ctx, name, esdb.ReadStreamOptions{From: esdb.Revision(next)}, 100))
				if err != nil {
					errs <- err
					return
				}
				if len(got) != len(evs) {
					errs <- fmt.Errorf("writer %d round %d: read %d events after revision %d, appended %d", w, r, len(got), next, len(evs))
					return
				}
				for i, e := range got {
					if e.OriginalEvent().EventID != evs[i].EventID || e.OriginalEvent().EventNumber != next+uint64(i) {
						errs <- fmt.Errorf("writer %d round %d: event %d is %s@%d", w, r, i, e.OriginalEvent().EventID, e.OriginalEvent().EventNumber)
						return
					}
				}
				next += uint64(len(evs))
				last, err := collect(c.ReadStream(ctx, name, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1))
				if err != nil || len(last) != 1 || last[0].OriginalEvent().EventNumber != next-1 {
					errs <- fmt.Errorf("writer %d round %d: last event %v, %v; want revision %d", w, r, revisions(last), err, next-1)
					return
				}
				if _, err := collect(c.ReadStream(ctx, newStream("never"), esdb.ReadStreamOptions{}, 10)); errCode(err) != esdb.ErrorCodeResourceNotFound {
					errs <- fmt.Errorf("writer %d: read of a missing stream: %v", w, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(done)
	watching.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// expected is the expected revision before appending at revision next.
func expected(next uint64) esdb.ExpectedRevision {
	if next == 0 {
		return esdb.NoStream{}
	}
	return esdb.Revision(next - 1)
}

// TestRecentEvents checks the in-memory copy of the latest events: a slot
// answers only for the position it holds, and oversized events are not
// kept.
func TestRecentEvents(t *testing.T) {
	t.Parallel()
	var r recentEvents
	small, big := []byte("small"), make([]byte, recentMaxSize+1)
	r.add([]*liveEvent{{pos: 7, proto: small}, {pos: 8, proto: big}})
	if got, ok := r.get(7); !ok || string(got) != "small" {
		t.Errorf("get(7) = %q, %v", got, ok)
	}
	if _, ok := r.get(8); ok {
		t.Error("an oversized event was kept")
	}
	if _, ok := r.get(7 + recentSlots); ok {
		t.Error("a slot answered for another position")
	}
	r.add([]*liveEvent{{pos: 7 + recentSlots, proto: []byte("later")}})
	if _, ok := r.get(7); ok {
		t.Error("an overwritten slot still answered for its old position")
	}
}
