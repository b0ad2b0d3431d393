package eventstoretest

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

func testReadStream(t *testing.T, c *esdb.Client) {
	stream := unique("contract_read-")
	mustAppend(t, c, stream, esdb.NoStream{}, newEvents("contract.appended", 10)...)

	cases := []struct {
		name  string
		opts  esdb.ReadStreamOptions
		count uint64
		want  []uint64
	}{
		{"forwards from start", esdb.ReadStreamOptions{}, 100, []uint64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{"forwards from start, count", esdb.ReadStreamOptions{From: esdb.Start{}}, 3, []uint64{0, 1, 2}},
		{"forwards from revision", esdb.ReadStreamOptions{From: esdb.Revision(4)}, 3, []uint64{4, 5, 6}},
		{"forwards past the end", esdb.ReadStreamOptions{From: esdb.Revision(10)}, 5, nil},
		{"backwards from end", esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 3, []uint64{9, 8, 7}},
		{"backwards from revision", esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.Revision(5)}, 100, []uint64{5, 4, 3, 2, 1, 0}},
	}
	for _, tc := range cases {
		got := mustReadStream(t, c, stream, tc.opts, tc.count)
		if !equalUints(revisions(got), tc.want) {
			t.Errorf("%s: revisions %v, want %v", tc.name, revisions(got), tc.want)
		}
	}

	for _, dir := range []esdb.Direction{esdb.Forwards, esdb.Backwards} {
		_, err := readStream(testCtx(t), c, unique("contract_missing-"), esdb.ReadStreamOptions{Direction: dir, From: esdb.Start{}}, 10)
		if dir == esdb.Backwards {
			_, err = readStream(testCtx(t), c, unique("contract_missing-"), esdb.ReadStreamOptions{Direction: dir, From: esdb.End{}}, 10)
		}
		wantErrCode(t, "read a missing stream", err, esdb.ErrorCodeResourceNotFound)
	}
}

// testReadAllOrder checks that $all holds the events of all streams in
// append order, forwards and backwards, and that reading from a position
// includes the event there.
func testReadAllOrder(t *testing.T, c *esdb.Client) {
	a, b := unique("contract_alla-"), unique("contract_allb-")
	from := headPosition(t, c)
	var want []string
	for i := range 3 {
		for _, s := range []string{a, b} {
			ev := newEvent("contract.ordered", i)
			mustAppend(t, c, s, esdb.Any{}, ev)
			want = append(want, ev.EventID.String())
		}
	}

	ctx := testCtx(t)
	ours := func(evs []*esdb.RecordedEvent) []*esdb.RecordedEvent {
		var out []*esdb.RecordedEvent
		for _, e := range evs {
			if e.StreamID == a || e.StreamID == b {
				out = append(out, e)
			}
		}
		return out
	}
	forwards, err := readAll(ctx, c, esdb.ReadAllOptions{From: from}, 100_000)
	if err != nil {
		t.Fatalf("read $all forwards: %v", err)
	}
	for i := 1; i < len(forwards); i++ {
		if !eventstore.PositionAfter(forwards[i].Position, forwards[i-1].Position) {
			t.Fatalf("$all forwards: position %+v not after %+v", forwards[i].Position, forwards[i-1].Position)
		}
	}
	got := ours(forwards)
	if ids := eventIDs(got); !equalStrings(ids, want) {
		t.Fatalf("$all forwards: our events %v, want %v", ids, want)
	}

	backwards, err := readAll(ctx, c, esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}}, uint64(len(forwards))+10_000)
	if err != nil {
		t.Fatalf("read $all backwards: %v", err)
	}
	reversed := make([]string, len(want))
	for i, id := range want {
		reversed[len(want)-1-i] = id
	}
	if ids := eventIDs(ours(backwards)); !equalStrings(ids, reversed) {
		t.Fatalf("$all backwards: our events %v, want %v", ids, reversed)
	}

	// Reading forwards from an event's own position starts with that event.
	second := got[1]
	fromSecond, err := readAll(ctx, c, esdb.ReadAllOptions{From: second.Position}, 1)
	if err != nil || len(fromSecond) != 1 || fromSecond[0].EventID != second.EventID {
		t.Fatalf("read $all from %+v: got %v (err %v), want the event at that position", second.Position, eventIDs(fromSecond), err)
	}
}

func readAll(ctx context.Context, c *esdb.Client, opts esdb.ReadAllOptions, count uint64) ([]*esdb.RecordedEvent, error) {
	rs, err := c.ReadAll(ctx, opts, count)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []*esdb.RecordedEvent
	for {
		re, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, re.OriginalEvent())
	}
}

func eventIDs(evs []*esdb.RecordedEvent) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.EventID.String()
	}
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
