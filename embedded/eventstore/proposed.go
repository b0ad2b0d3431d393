package eventstore

import (
	"encoding/binary"
	"strconv"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	api "github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
)

// encodeProposed serializes an event to store, without its revision and
// positions (the writer appends those).
func encodeProposed(stream string, id [16]byte, typ, contentType string, data, custom []byte, created int64) proposed {
	if data == nil {
		data = []byte{}
	}
	if custom == nil {
		custom = []byte{}
	}
	ev := &api.ReadResp_ReadEvent_RecordedEvent{
		Id:               structuredUUID(id),
		StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(stream)},
		Metadata: map[string]string{
			"type":         typ,
			"content-type": contentType,
			"created":      strconv.FormatInt(created, 10),
		},
		CustomMetadata: custom,
		Data:           data,
	}
	body, err := proto.MarshalOptions{Deterministic: true}.Marshal(ev)
	if err != nil {
		// Only invalid UTF-8 in a string field can fail; metadata values
		// were validated before.
		panic(err)
	}
	return proposed{id: id, typ: typ, data: data, header: recordHeader(created, stream, typ), body: body}
}

func structuredUUID(id [16]byte) *shared.UUID {
	return &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{
		MostSignificantBits:  int64(binary.BigEndian.Uint64(id[:8])),
		LeastSignificantBits: int64(binary.BigEndian.Uint64(id[8:])),
	}}}
}

// parseUUID reads a UUID in either wire form; ok is false when it is absent
// or malformed.
func parseUUID(u *shared.UUID) (id [16]byte, ok bool) {
	if s := u.GetStructured(); s != nil {
		binary.BigEndian.PutUint64(id[:8], uint64(s.GetMostSignificantBits()))
		binary.BigEndian.PutUint64(id[8:], uint64(s.GetLeastSignificantBits()))
		return id, true
	}
	if str := u.GetString_(); str != "" {
		parsed, err := uuid.Parse(str)
		if err != nil {
			return id, false
		}
		return parsed, true
	}
	return id, false
}

func uuidBytes(u *shared.UUID) [16]byte {
	id, _ := parseUUID(u)
	return id
}
