package eventstore_test

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"strconv"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

func randomHex() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }

func readStreamT(t testing.TB, c *esdb.Client, stream string) []*esdb.RecordedEvent {
	t.Helper()
	rs, err := c.ReadStream(t.Context(), stream, esdb.ReadStreamOptions{}, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var out []*esdb.RecordedEvent
	for {
		re, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out
		}
		if eventstore.IsStreamNotFound(err) {
			return nil
		}
		if err != nil {
			t.Fatalf("read %s: %v", stream, err)
		}
		out = append(out, re.OriginalEvent())
	}
}

func appendRaw(t testing.TB, c *esdb.Client, stream string, expected esdb.ExpectedRevision, eventType string) {
	t.Helper()
	_, err := c.AppendToStream(t.Context(), stream, esdb.AppendToStreamOptions{ExpectedRevision: expected}, esdb.EventData{
		EventID: uuid.New(), EventType: eventType, ContentType: esdb.ContentTypeJson, Data: []byte(`{}`),
	})
	if err != nil {
		t.Fatal(err)
	}
}

func parseMetadata(t testing.TB, e *esdb.RecordedEvent) eventstore.Metadata {
	t.Helper()
	md, err := eventstore.ParseMetadata(e.UserMetadata)
	if err != nil {
		t.Fatalf("metadata %s: %v", e.UserMetadata, err)
	}
	return md
}
