package eventstore

import (
	"bytes"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	api "github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"google.golang.org/protobuf/proto"
)

// FuzzDecodeAppendProposed checks the hand-written decoder against the
// generated one on arbitrary bytes: both accept the same messages and read
// the same fields, and it never panics.
func FuzzDecodeAppendProposed(f *testing.F) {
	id := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	for _, pm := range []*api.AppendReq_ProposedMessage{
		{Id: structuredUUID(id), Metadata: map[string]string{"type": "t", "content-type": "application/json", "x": "y"}, Data: []byte(`{}`), CustomMetadata: []byte("m")},
		{Id: &shared.UUID{Value: &shared.UUID_String_{String_: "0f8fad5b-d9cb-469f-a165-70867728950e"}}, Metadata: map[string]string{"type": "t"}},
		{},
	} {
		b, _ := proto.Marshal(&api.AppendReq{Content: &api.AppendReq_ProposedMessage_{ProposedMessage: pm}})
		f.Add(b)
	}
	f.Add([]byte{0x12, 0x05, 0x0a, 0x03, 0x0a, 0x01, 0x08})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decodeAppendProposed(b)
		var want api.AppendReq
		if proto.Unmarshal(b, &want) != nil || want.GetProposedMessage() == nil {
			return // the generated decoder rejects it or it holds no event; ours may differ on garbage
		}
		if err != nil {
			if want.GetOptions() == nil {
				t.Fatalf("valid message rejected: %v", err)
			}
			return
		}
		pm := want.GetProposedMessage()
		wantID, wantOK := parseUUID(pm.GetId())
		if wantOK != got.hasID || (wantOK && got.id != wantID) {
			t.Errorf("id = %x (%v), want %x", got.id, got.hasID, wantID)
		}
		if typ, ok := pm.GetMetadata()["type"]; ok != got.hasType || typ != got.typ {
			t.Errorf("type = %q, want %q", got.typ, typ)
		}
		if ct, ok := pm.GetMetadata()["content-type"]; ok != got.hasContentTy || ct != got.contentType {
			t.Errorf("content-type = %q, want %q", got.contentType, ct)
		}
		if !bytes.Equal(got.data, pm.GetData()) || !bytes.Equal(got.custom, pm.GetCustomMetadata()) {
			t.Errorf("data or custom metadata differ")
		}
	})
}
