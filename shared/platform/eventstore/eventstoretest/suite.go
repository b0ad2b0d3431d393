// Package eventstoretest is the contract suite of the event store: what
// Troupe relies on from KurrentDB, checked through the v4 client so that the
// embedded server and a real KurrentDB are held to the same behaviour.
package eventstoretest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

// Run runs the contract suite against the store at url, each case as a
// parallel subtest. Every case writes only to streams with a random suffix
// and reads $all only from the position it started at, so the store may be
// shared with other tests and hold any history.
func Run(t *testing.T, url string) {
	t.Helper()
	client, err := eventstore.Dial(url, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })

	cases := []struct {
		name string
		fn   func(t *testing.T, c *esdb.Client)
	}{
		{"append", testAppend},
		{"conflict_carries_current_revision", testConflict},
		{"concurrent_exact_appends", testConcurrentExactAppends},
		{"idempotent_reappend", testIdempotentReappend},
		{"read_stream_both_directions", testReadStream},
		{"read_all_order", testReadAllOrder},
		{"filter_stream_prefix", testFilterStreamPrefix},
		{"filter_event_type_prefix", testFilterEventTypePrefix},
		{"filter_regex", testFilterRegex},
		{"checkpoints", testCheckpoints},
		{"caught_up_then_live", testCaughtUpThenLive},
		{"stream_subscription", testStreamSubscription},
		{"drop_and_resubscribe", testDropAndResubscribe},
		{"soft_delete", testSoftDelete},
		{"tombstone", testTombstone},
		{"metadata_max_count", testMetadataMaxCount},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, client)
		})
	}
}

// testCtx bounds one case, so a store that never answers fails the case
// instead of hanging the run.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// unique returns prefix followed by a random suffix valid in stream names
// and event types.
func unique(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func newEvent(eventType string, i int) esdb.EventData {
	return esdb.EventData{
		EventID:     uuid.New(),
		EventType:   eventType,
		ContentType: esdb.ContentTypeJson,
		Data:        fmt.Appendf(nil, `{"i":%d}`, i),
		Metadata:    fmt.Appendf(nil, `{"$correlationId":"c-%d"}`, i),
	}
}

func newEvents(eventType string, n int) []esdb.EventData {
	evs := make([]esdb.EventData, n)
	for i := range evs {
		evs[i] = newEvent(eventType, i)
	}
	return evs
}

func mustAppend(t *testing.T, c *esdb.Client, stream string, expected esdb.ExpectedRevision, evs ...esdb.EventData) *esdb.WriteResult {
	t.Helper()
	wr, err := c.AppendToStream(testCtx(t), stream, esdb.AppendToStreamOptions{ExpectedRevision: expected}, evs...)
	if err != nil {
		t.Fatalf("append %d events to %s (expected %#v): %v", len(evs), stream, expected, err)
	}
	return wr
}

// readStream reads up to count events of stream; the error is the one the
// read ended with, if any.
func readStream(ctx context.Context, c *esdb.Client, stream string, opts esdb.ReadStreamOptions, count uint64) ([]*esdb.RecordedEvent, error) {
	rs, err := c.ReadStream(ctx, stream, opts, count)
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

func mustReadStream(t *testing.T, c *esdb.Client, stream string, opts esdb.ReadStreamOptions, count uint64) []*esdb.RecordedEvent {
	t.Helper()
	evs, err := readStream(testCtx(t), c, stream, opts, count)
	if err != nil {
		t.Fatalf("read %s: %v", stream, err)
	}
	return evs
}

func revisions(evs []*esdb.RecordedEvent) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.EventNumber
	}
	return out
}

func equalUints(a, b []uint64) bool {
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

// headPosition is the position of the last event in $all, or Start when it
// is empty: reading $all from there sees only what is appended later (and
// that one event).
func headPosition(t *testing.T, c *esdb.Client) esdb.AllPosition {
	t.Helper()
	rs, err := c.ReadAll(testCtx(t), esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
	if err != nil {
		t.Fatalf("read $all backwards: %v", err)
	}
	defer rs.Close()
	re, err := rs.Recv()
	if errors.Is(err, io.EOF) {
		return esdb.Start{}
	}
	if err != nil {
		t.Fatalf("read $all backwards: %v", err)
	}
	return re.OriginalEvent().Position
}

func wantErrCode(t *testing.T, what string, err error, code esdb.ErrorCode) {
	t.Helper()
	var esErr *esdb.Error
	if !errors.As(err, &esErr) || !esErr.IsErrorCode(code) {
		t.Fatalf("%s: got error %v, want error code %d", what, err, code)
	}
}
