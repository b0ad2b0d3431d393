package eventstore

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
)

func TestAppendAndReadStream(t *testing.T) {
	t.Parallel()
	s := startServer(t, Config{})
	c := newClient(t, s.URL())
	ctx := ctxT(t)
	stream := newStream("orders")

	evs := events(3, "order_placed")
	evs[1].Metadata = []byte(`{"correlationId":"c1"}`)
	res, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, evs...)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	if res.NextExpectedVersion != 2 || res.CommitPosition == 0 {
		t.Fatalf("append result = %+v, want revision 2 and a position", res)
	}
	got, err := collect(c.ReadStream(ctx, stream, esdb.ReadStreamOptions{}, 100))
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if len(got) != 3 {
		t.Fatalf("read %d events, want 3", len(got))
	}
	for i, e := range got {
		r := e.OriginalEvent()
		if r.EventID != evs[i].EventID || r.EventType != "order_placed" || r.StreamID != stream ||
			r.EventNumber != uint64(i) || !bytes.Equal(r.Data, evs[i].Data) || r.ContentType != "application/json" {
			t.Errorf("event %d = %+v", i, r)
		}
		if r.CreatedDate.IsZero() || r.Position.Commit == 0 {
			t.Errorf("event %d lacks created date or position: %+v", i, r)
		}
	}
	if !bytes.Equal(got[1].OriginalEvent().UserMetadata, evs[1].Metadata) {
		t.Errorf("user metadata = %q", got[1].OriginalEvent().UserMetadata)
	}
	if got[2].OriginalEvent().Position.Commit != res.CommitPosition {
		t.Errorf("last event position %d, append said %d", got[2].OriginalEvent().Position.Commit, res.CommitPosition)
	}

	back, err := collect(c.ReadStream(ctx, stream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 2))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(revisions(back), []uint64{2, 1}) {
		t.Errorf("backwards from end = %v, want [2 1]", revisions(back))
	}
	from1, err := collect(c.ReadStream(ctx, stream, esdb.ReadStreamOptions{From: esdb.Revision(1)}, 100))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(revisions(from1), []uint64{1, 2}) {
		t.Errorf("forwards from 1 = %v", revisions(from1))
	}
	back1, err := collect(c.ReadStream(ctx, stream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.Revision(1)}, 100))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(revisions(back1), []uint64{1, 0}) {
		t.Errorf("backwards from 1 = %v", revisions(back1))
	}
}

func TestReadMissingStream(t *testing.T) {
	t.Parallel()
	s := startServer(t, Config{})
	c := newClient(t, s.URL())
	_, err := collect(c.ReadStream(ctxT(t), newStream("missing"), esdb.ReadStreamOptions{}, 10))
	if errCode(err) != esdb.ErrorCodeResourceNotFound {
		t.Fatalf("err = %v, want resource not found", err)
	}
}

func TestExpectedRevisions(t *testing.T) {
	t.Parallel()
	s := startServer(t, Config{})
	c := newClient(t, s.URL())
	ctx := ctxT(t)
	stream := newStream("exp")

	wev := func(opts esdb.AppendToStreamOptions, want string) {
		t.Helper()
		_, err := c.AppendToStream(ctx, stream, opts, jsonEvent("x", "{}"))
		if errCode(err) != esdb.ErrorCodeWrongExpectedVersion {
			t.Fatalf("append %T: err = %v, want wrong expected version", opts.ExpectedRevision, err)
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not carry %q", err, want)
		}
	}
	ok := func(opts esdb.AppendToStreamOptions, wantRev uint64) {
		t.Helper()
		res, err := c.AppendToStream(ctx, stream, opts, jsonEvent("x", "{}"))
		if err != nil {
			t.Fatalf("append %T: %v", opts.ExpectedRevision, err)
		}
		if res.NextExpectedVersion != wantRev {
			t.Errorf("revision %d, want %d", res.NextExpectedVersion, wantRev)
		}
	}
	wev(esdb.AppendToStreamOptions{ExpectedRevision: esdb.StreamExists{}}, "expecting 'stream_exists' but got 'no_stream'")
	wev(esdb.AppendToStreamOptions{ExpectedRevision: esdb.Revision(0)}, "expecting '0' but got 'no_stream'")
	ok(esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, 0)
	wev(esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, "expecting 'no_stream' but got '0'")
	ok(esdb.AppendToStreamOptions{ExpectedRevision: esdb.StreamExists{}}, 1)
	ok(esdb.AppendToStreamOptions{ExpectedRevision: esdb.Revision(1)}, 2)
	wev(esdb.AppendToStreamOptions{ExpectedRevision: esdb.Revision(1)}, "expecting '1' but got '2'")
	wev(esdb.AppendToStreamOptions{ExpectedRevision: esdb.Revision(7)}, "expecting '7' but got '2'")
	ok(esdb.AppendToStreamOptions{ExpectedRevision: esdb.Any{}}, 3)
}

func TestIdempotentReappend(t *testing.T) {
	t.Parallel()
	s := startServer(t, Config{})
	c := newClient(t, s.URL())
	ctx := ctxT(t)
	stream := newStream("idem")

	evs := events(2, "x")
	first, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, evs...)
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, evs...)
	if err != nil {
		t.Fatalf("re-append of the same ids: %v", err)
	}
	if again.NextExpectedVersion != first.NextExpectedVersion || again.CommitPosition != first.CommitPosition {
		t.Errorf("re-append result %+v, first %+v", again, first)
	}
	more := events(1, "x")
	if _, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Revision(1)}, more...); err != nil {
		t.Fatal(err)
	}
	// A retry of the older append, after another one, is still recognised.
	if _, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, evs...); err != nil {
		t.Fatalf("late re-append: %v", err)
	}
	if _, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Revision(1)}, more...); err != nil {
		t.Fatalf("re-append at revision 1: %v", err)
	}
	if _, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Any{}}, more...); err != nil {
		t.Fatalf("re-append with any: %v", err)
	}
	// Different ids at a stale revision conflict.
	_, err = c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Revision(1)}, events(1, "x")...)
	if errCode(err) != esdb.ErrorCodeWrongExpectedVersion {
		t.Fatalf("err = %v, want wrong expected version", err)
	}
	got, err := collect(c.ReadStream(ctx, stream, esdb.ReadStreamOptions{}, 100))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("stream holds %d events, want 3 (no duplicates)", len(got))
	}
}

func TestAppendLimitsAndNames(t *testing.T) {
	t.Parallel()
	s := startServer(t, Config{MaxAppendSize: 4096})
	c := newClient(t, s.URL())
	ctx := ctxT(t)

	big := jsonEvent("x", `"`+strings.Repeat("a", 5000)+`"`)
	_, err := c.AppendToStream(ctx, newStream("big"), esdb.AppendToStreamOptions{}, big)
	if err == nil || !strings.Contains(err.Error(), "Maximum Append Size of 4096 Exceeded") {
		t.Fatalf("err = %v, want maximum append size exceeded", err)
	}
	many := events(100, "x") // each small, together over the limit
	_, err = c.AppendToStream(ctx, newStream("many"), esdb.AppendToStreamOptions{}, many...)
	if err == nil || !strings.Contains(err.Error(), "Maximum Append Size") {
		t.Fatalf("err = %v, want maximum append size exceeded", err)
	}
	for _, name := range []string{"$all", strings.Repeat("n", 2000), "$$", "\xff\xfe"} {
		if _, err := c.AppendToStream(ctx, name, esdb.AppendToStreamOptions{}, jsonEvent("x", "{}")); err == nil {
			t.Errorf("append to %q succeeded, want an error", name)
		}
	}
	// The client is still usable after rejected requests.
	if _, err := c.AppendToStream(ctx, newStream("fine"), esdb.AppendToStreamOptions{}, jsonEvent("x", "{}")); err != nil {
		t.Fatal(err)
	}
}
