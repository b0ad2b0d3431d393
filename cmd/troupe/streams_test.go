package main

import (
	"context"
	"crypto/rand"
	"log/slog"
	"reflect"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	esserver "github.com/troupe-dev/troupe/embedded/eventstore"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

// TestListStreamsSkipsSystemAndDeletedStreams: ls shows live streams with
// their last revision and type, and leaves out $ streams (stream metadata
// included), soft-deleted and tombstoned streams; a soft-deleted stream
// written to again is back.
func TestListStreamsSkipsSystemAndDeletedStreams(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, err := esserver.Start(ctx, esserver.Config{DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	client, err := eventstore.Dial(srv.URL(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()

	p := "ls" + rand.Text()[:8] + "."
	appendN := func(stream, typ string, n int) {
		t.Helper()
		evs := make([]esdb.EventData, n)
		for i := range evs {
			evs[i] = esdb.EventData{EventID: uuid.New(), EventType: typ, ContentType: esdb.ContentTypeJson, Data: []byte(`{}`)}
		}
		if _, err := client.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{}, evs...); err != nil {
			t.Fatal(err)
		}
	}
	appendN(p+"live-1", "x.created", 3)
	appendN(p+"soft-1", "x.created", 2)
	appendN(p+"tomb-1", "x.created", 2)
	appendN(p+"back-1", "x.created", 2)
	appendN(p+"capped-1", "x.checkpoint", 5)
	var md esdb.StreamMetadata
	md.SetMaxCount(1)
	if _, err := client.SetStreamMetadata(ctx, p+"capped-1", esdb.AppendToStreamOptions{}, md); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{p + "soft-1", p + "back-1"} {
		if _, err := client.DeleteStream(ctx, s, esdb.DeleteStreamOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client.TombstoneStream(ctx, p+"tomb-1", esdb.TombstoneStreamOptions{}); err != nil {
		t.Fatal(err)
	}
	appendN(p+"back-1", "x.revived", 1)

	list, err := listStreams(ctx, client, p)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range list {
		got = append(got, s.Stream)
		if s.LastEventAt.IsZero() {
			t.Errorf("%s has no last event time", s.Stream)
		}
	}
	want := []string{p + "back-1", p + "capped-1", p + "live-1"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("listed %v, want %v", got, want)
	}
	if list[0].LastRevision != 2 || list[0].LastEventType != "x.revived" || list[1].LastRevision != 4 || list[2].LastRevision != 2 {
		t.Fatalf("listed %+v", list)
	}

	all, err := listStreams(ctx, client, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range all {
		if s.Stream[0] == '$' {
			t.Errorf("system stream %s listed", s.Stream)
		}
	}
	if len(all) != len(list) {
		t.Errorf("without a prefix: %d streams, want the %d of this test", len(all), len(list))
	}
}
