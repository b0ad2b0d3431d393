package eventstore

import (
	"slices"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
)

func positions(evs []*esdb.ResolvedEvent) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.OriginalEvent().Position.Commit
	}
	return out
}

func TestReadAll(t *testing.T) {
	t.Parallel()
	s := startServer(t, Config{})
	c := newClient(t, s.URL())
	ctx := ctxT(t)
	a, b := newStream("a"), newStream("b")
	for i := 0; i < 3; i++ {
		if _, err := c.AppendToStream(ctx, a, esdb.AppendToStreamOptions{}, jsonEvent("ta", "{}")); err != nil {
			t.Fatal(err)
		}
		if _, err := c.AppendToStream(ctx, b, esdb.AppendToStreamOptions{}, jsonEvent("tb", "{}")); err != nil {
			t.Fatal(err)
		}
	}
	all, err := collect(c.ReadAll(ctx, esdb.ReadAllOptions{}, 1000))
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 6 {
		t.Fatalf("$all holds %d events, want 6", len(all))
	}
	for i, e := range all {
		want := a
		if i%2 == 1 {
			want = b
		}
		if e.OriginalEvent().StreamID != want || e.OriginalEvent().EventNumber != uint64(i/2) {
			t.Errorf("$all[%d] = %s@%d, want %s@%d", i, e.OriginalEvent().StreamID, e.OriginalEvent().EventNumber, want, i/2)
		}
		if e.Commit == nil || *e.Commit != e.OriginalEvent().Position.Commit {
			t.Errorf("$all[%d] commit position missing", i)
		}
	}
	pos := positions(all)
	if !slices.IsSorted(pos) {
		t.Errorf("$all positions not ascending: %v", pos)
	}

	back, err := collect(c.ReadAll(ctx, esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}}, 2))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(positions(back), []uint64{pos[5], pos[4]}) {
		t.Errorf("backwards from end = %v, want %v", positions(back), []uint64{pos[5], pos[4]})
	}
	p := esdb.Position{Commit: pos[2], Prepare: pos[2]}
	fwd, err := collect(c.ReadAll(ctx, esdb.ReadAllOptions{From: p}, 2))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(positions(fwd), pos[2:4]) {
		t.Errorf("forwards from position %d = %v, want %v (inclusive)", pos[2], positions(fwd), pos[2:4])
	}
	bwd, err := collect(c.ReadAll(ctx, esdb.ReadAllOptions{From: p, Direction: esdb.Backwards}, 10))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(positions(bwd), []uint64{pos[1], pos[0]}) {
		t.Errorf("backwards from position %d = %v, want %v (exclusive)", pos[2], positions(bwd), []uint64{pos[1], pos[0]})
	}
	zero, err := collect(c.ReadAll(ctx, esdb.ReadAllOptions{From: esdb.Position{}, Direction: esdb.Backwards}, 10))
	if err != nil || len(zero) != 0 {
		t.Errorf("backwards from position 0 = %d events, %v; want none", len(zero), err)
	}
	none, err := collect(c.ReadAll(ctx, esdb.ReadAllOptions{From: esdb.End{}}, 10))
	if err != nil || len(none) != 0 {
		t.Errorf("forwards from end = %d events, %v; want none", len(none), err)
	}
}

func TestGossipDiscovery(t *testing.T) {
	t.Parallel()
	s := startServer(t, Config{})
	c := newClient(t, "esdb+discover://"+s.Addr()+"?tls=false")
	ctx := ctxT(t)
	stream := newStream("discover")
	if _, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{}, jsonEvent("x", "{}")); err != nil {
		t.Fatalf("append through discovery: %v", err)
	}
	got, err := collect(c.ReadStream(ctx, stream, esdb.ReadStreamOptions{}, 10))
	if err != nil || len(got) != 1 {
		t.Fatalf("read = %d events, %v", len(got), err)
	}
}

func TestRestartKeepsStreamsAndAllOrder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := Start(ctxT(t), Config{DataDir: dir, Logger: testLogger})
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, s.URL())
	ctx := ctxT(t)
	a, b := newStream("a"), newStream("b")
	for i := 0; i < 5; i++ {
		if _, err := c.AppendToStream(ctx, a, esdb.AppendToStreamOptions{}, jsonEvent("x", "{}")); err != nil {
			t.Fatal(err)
		}
		if _, err := c.AppendToStream(ctx, b, esdb.AppendToStreamOptions{}, jsonEvent("y", "{}")); err != nil {
			t.Fatal(err)
		}
	}
	before, err := collect(c.ReadAll(ctx, esdb.ReadAllOptions{}, 1000))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	s2 := startServer(t, Config{DataDir: dir})
	c2 := newClient(t, s2.URL())
	after, err := collect(c2.ReadAll(ctx, esdb.ReadAllOptions{}, 1000))
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Fatalf("after restart $all holds %d events, before %d", len(after), len(before))
	}
	for i := range before {
		if before[i].OriginalEvent().EventID != after[i].OriginalEvent().EventID {
			t.Fatalf("$all[%d] changed across restart", i)
		}
	}
	res, err := c2.AppendToStream(ctx, a, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Revision(4)}, jsonEvent("x", "{}"))
	if err != nil {
		t.Fatalf("append after restart: %v", err)
	}
	if res.NextExpectedVersion != 5 || res.CommitPosition <= before[len(before)-1].OriginalEvent().Position.Commit {
		t.Errorf("append after restart = %+v", res)
	}
}

func TestPortTaken(t *testing.T) {
	t.Parallel()
	s := startServer(t, Config{})
	_, err := Start(ctxT(t), Config{Addr: s.Addr(), DataDir: t.TempDir(), Logger: testLogger})
	if err == nil {
		t.Fatal("second server on a taken port started")
	}
	if !contains(err.Error(), s.Addr()) {
		t.Errorf("error %q does not name the address", err)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, c := range []Config{{}, {DataDir: "x", Addr: "nonsense"}, {DataDir: "x", MaxAppendSize: -1}, {DataDir: "x", SubscriberBuffer: -5}} {
		if err := c.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil, want an error", c)
		}
	}
	if err := (&Config{DataDir: "x"}).Validate(); err != nil {
		t.Errorf("minimal config: %v", err)
	}
}

func TestDataDirInUse(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	startServer(t, Config{DataDir: dir})
	_, err := Start(ctxT(t), Config{DataDir: dir, Logger: testLogger})
	if err == nil || !contains(err.Error(), dir) || !contains(err.Error(), "another event store") {
		t.Fatalf("second server on one data dir: err = %v", err)
	}
}
