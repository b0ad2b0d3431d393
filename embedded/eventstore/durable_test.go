package eventstore

import (
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/google/uuid"
)

// TestNothingVisibleBeforeSync drives the writer's two steps by hand: after
// a group is applied to Pebble (readable there) but before its fsync is
// acknowledged, neither reads nor live subscriptions may see it.
func TestNothingVisibleBeforeSync(t *testing.T) {
	t.Parallel()
	db, err := pebble.Open(t.TempDir(), &pebble.Options{Logger: quietLogger{testLogger}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	h := newHub()
	s := &store{db: db, log: testLogger, hub: h, cache: map[string]*wstream{}, metaCache: map[string]cachedMeta{}, nextPos: 1}
	sub, _ := h.register("", 10)
	stream := "durable-1"
	p := encodeProposed(stream, uuid.New(), "t", "application/json", []byte("{}"), nil, nowTicks())
	req := &writeReq{op: opAppend, stream: stream, expect: expectation{kind: expectNoStream}, events: []proposed{p}, done: make(chan writeResult, 1)}
	g := &writeGroup{reqs: []*writeReq{req}}
	s.applyGroup(g)
	if g.batch == nil {
		t.Fatal("the group was not applied")
	}
	if _, closer, err := db.Get(eventKey(1)); err != nil {
		t.Fatalf("the applied event is not in Pebble yet: %v", err)
	} else {
		closer.Close()
	}

	w := s.durable.Load()
	v, err := s.view(stream, w)
	if err != nil {
		t.Fatal(err)
	}
	if !v.notFound() {
		t.Errorf("stream visible before its fsync: %+v", v)
	}
	seen := 0
	if err := s.scanAll(1, w, false, func(uint64, record) error { seen++; return nil }); err != nil {
		t.Fatal(err)
	}
	if seen != 0 {
		t.Errorf("$all shows %d events before their fsync", seen)
	}
	if evs, _ := sub.take(); len(evs) != 0 {
		t.Errorf("live subscription got %d events before their fsync", len(evs))
	}
	select {
	case <-req.done:
		t.Error("append acknowledged before its fsync")
	default:
	}

	s.ack(g)
	if res := <-req.done; res.err != nil || res.pos != 1 {
		t.Fatalf("ack = %+v", res)
	}
	v, err = s.view(stream, s.durable.Load())
	if err != nil || v.lastRev != 0 {
		t.Errorf("after the fsync: view = %+v, %v", v, err)
	}
	if evs, _ := sub.take(); len(evs) != 1 {
		t.Errorf("live subscription got %d events after the fsync, want 1", len(evs))
	}
}
