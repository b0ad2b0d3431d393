package eventstoretest

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

func testAppend(t *testing.T, c *esdb.Client) {
	stream := unique("contract_append-")
	before := time.Now()
	first := newEvents("contract.appended", 2)
	if wr := mustAppend(t, c, stream, esdb.NoStream{}, first...); wr.NextExpectedVersion != 1 {
		t.Fatalf("after 2 events on a new stream: next expected version %d, want 1", wr.NextExpectedVersion)
	}
	third := newEvent("contract.appended", 2)
	if wr := mustAppend(t, c, stream, esdb.Revision(1), third); wr.NextExpectedVersion != 2 {
		t.Fatalf("after exact append: next expected version %d, want 2", wr.NextExpectedVersion)
	}
	if wr := mustAppend(t, c, stream, esdb.StreamExists{}, newEvent("contract.appended", 3)); wr.NextExpectedVersion != 3 {
		t.Fatalf("after stream_exists append: next expected version %d, want 3", wr.NextExpectedVersion)
	}
	if wr := mustAppend(t, c, stream, esdb.Any{}, newEvent("contract.appended", 4)); wr.NextExpectedVersion != 4 {
		t.Fatalf("after any append: next expected version %d, want 4", wr.NextExpectedVersion)
	}

	got := mustReadStream(t, c, stream, esdb.ReadStreamOptions{}, 100)
	if !equalUints(revisions(got), []uint64{0, 1, 2, 3, 4}) {
		t.Fatalf("revisions %v, want 0..4", revisions(got))
	}
	want := append(first, third)
	for i, w := range want {
		g := got[i]
		if g.EventID != w.EventID || g.EventType != w.EventType || g.StreamID != stream ||
			!bytes.Equal(g.Data, w.Data) || !bytes.Equal(g.UserMetadata, w.Metadata) || g.ContentType != "application/json" {
			t.Fatalf("event %d read back as %+v, want %+v", i, g, w)
		}
		if g.CreatedDate.Before(before.Add(-time.Minute)) || g.CreatedDate.After(time.Now().Add(time.Minute)) {
			t.Fatalf("event %d created %v, not around now", i, g.CreatedDate)
		}
		if i > 0 && !eventstore.PositionAfter(g.Position, got[i-1].Position) {
			t.Fatalf("event %d position %+v not after %+v", i, g.Position, got[i-1].Position)
		}
	}
}

func testConflict(t *testing.T, c *esdb.Client) {
	stream := unique("contract_conflict-")
	mustAppend(t, c, stream, esdb.NoStream{}, newEvents("contract.appended", 2)...)

	cases := []struct {
		name       string
		stream     string
		expected   esdb.ExpectedRevision
		wantRev    uint64
		wantExists bool
	}{
		{"no_stream on existing", stream, esdb.NoStream{}, 1, true},
		{"stale revision", stream, esdb.Revision(0), 1, true},
		{"future revision", stream, esdb.Revision(7), 1, true},
		{"stream_exists on missing", unique("contract_missing-"), esdb.StreamExists{}, 0, false},
		{"revision on missing", unique("contract_missing-"), esdb.Revision(0), 0, false},
	}
	for _, tc := range cases {
		_, err := c.AppendToStream(testCtx(t), tc.stream, esdb.AppendToStreamOptions{ExpectedRevision: tc.expected}, newEvent("contract.appended", 9))
		if !eventstore.IsWrongExpectedVersion(err) {
			t.Fatalf("%s: got %v, want wrong expected version", tc.name, err)
		}
		rev, exists, ok := eventstore.CurrentRevision(err)
		if !ok || rev != tc.wantRev || exists != tc.wantExists {
			t.Fatalf("%s: current revision (%d, exists %v, ok %v) from %q, want (%d, exists %v)",
				tc.name, rev, exists, ok, err, tc.wantRev, tc.wantExists)
		}
	}
	if got := mustReadStream(t, c, stream, esdb.ReadStreamOptions{}, 100); len(got) != 2 {
		t.Fatalf("refused appends wrote something: %d events, want 2", len(got))
	}
}

// testConcurrentExactAppends races writers on one revision: the store must
// let exactly one win.
func testConcurrentExactAppends(t *testing.T, c *esdb.Client) {
	stream := unique("contract_race-")
	mustAppend(t, c, stream, esdb.NoStream{}, newEvent("contract.appended", 0))
	const writers = 8
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		won, lost int
		other     []error
	)
	ctx := testCtx(t)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Revision(0)}, newEvent("contract.raced", i))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case eventstore.IsWrongExpectedVersion(err):
				lost++
			default:
				other = append(other, err)
			}
		}()
	}
	wg.Wait()
	if won != 1 || lost != writers-1 || len(other) != 0 {
		t.Fatalf("%d won, %d lost, other errors %v; want 1 won, %d lost", won, lost, other, writers-1)
	}
	if got := mustReadStream(t, c, stream, esdb.ReadStreamOptions{}, 100); len(got) != 2 {
		t.Fatalf("stream has %d events, want 2", len(got))
	}
}

func testIdempotentReappend(t *testing.T, c *esdb.Client) {
	stream := unique("contract_idem-")
	batch := newEvents("contract.appended", 2)
	mustAppend(t, c, stream, esdb.NoStream{}, batch...)
	mustAppend(t, c, stream, esdb.NoStream{}, batch...)

	next := newEvent("contract.appended", 2)
	mustAppend(t, c, stream, esdb.Revision(1), next)
	mustAppend(t, c, stream, esdb.Revision(1), next)

	got := mustReadStream(t, c, stream, esdb.ReadStreamOptions{}, 100)
	if !equalUints(revisions(got), []uint64{0, 1, 2}) {
		t.Fatalf("after re-appends: revisions %v, want [0 1 2]", revisions(got))
	}
	if got[0].EventID != batch[0].EventID || got[2].EventID != next.EventID {
		t.Fatalf("re-append changed the stored events")
	}
}
