package eventstore

import (
	"bytes"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	api "github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"google.golang.org/protobuf/proto"
)

// TestEncodeProposedMatchesProto checks the hand-written encoder against
// the generated one, so the stored bytes are a valid RecordedEvent.
func TestEncodeProposedMatchesProto(t *testing.T) {
	t.Parallel()
	id := [16]byte{0x80, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0xff}
	for _, tc := range []struct {
		stream, typ  string
		data, custom []byte
		created      int64
	}{
		{"orders-1", "order_placed", []byte(`{"a":1}`), []byte(`{"c":2}`), 17_000_000_000_000_000},
		{"s", "t", nil, nil, 0},
		{"☃", "événement", bytes.Repeat([]byte{0}, 300), []byte{}, 1},
	} {
		p := encodeProposed(tc.stream, id, tc.typ, "application/json", tc.data, tc.custom, tc.created)
		full := appendPositionFields(bytes.Clone(p.body), 5, 42)
		var got api.ReadResp_ReadEvent_RecordedEvent
		if err := proto.Unmarshal(full, &got); err != nil {
			t.Fatalf("%s: %v", tc.stream, err)
		}
		want := &api.ReadResp_ReadEvent_RecordedEvent{
			Id:               structuredUUID(id),
			StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(tc.stream)},
			StreamRevision:   5, PreparePosition: 42, CommitPosition: 42,
			Metadata:       map[string]string{"type": tc.typ, "content-type": "application/json", "created": itoa(tc.created)},
			CustomMetadata: tc.custom, Data: tc.data,
		}
		if !proto.Equal(&got, want) {
			t.Errorf("%s: decoded %v, want %v", tc.stream, &got, want)
		}
		rec, err := decodeRecord(append(bytes.Clone(p.header), full...))
		if err != nil || rec.stream != tc.stream || rec.typ != tc.typ || rec.created != tc.created {
			t.Errorf("%s: record header = %+v, %v", tc.stream, rec, err)
		}
	}
	if _, err := decodeRecord([]byte{9, 9}); err == nil {
		t.Error("decodeRecord accepted garbage")
	}
}
