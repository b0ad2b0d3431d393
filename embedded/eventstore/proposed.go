package eventstore

import (
	"encoding/binary"
	"strconv"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/google/uuid"
	"google.golang.org/protobuf/encoding/protowire"
)

// encodeProposed serializes an event to store, without its revision and
// positions (the writer appends those). The RecordedEvent is encoded by hand:
// this runs once per appended event, and the generic encoder with a map
// field costs more than the rest of the append path on the server.
func encodeProposed(stream string, id [16]byte, typ, contentType string, data, custom []byte, created int64) proposed {
	if data == nil {
		data = []byte{}
	}
	var createdBuf [20]byte
	createdStr := strconv.AppendInt(createdBuf[:0], created, 10)
	b := make([]byte, 0, 96+len(stream)+len(typ)+len(contentType)+len(data)+len(custom))
	// id (1): UUID{structured (1): {most (1), least (2)}}
	most, least := binary.BigEndian.Uint64(id[:8]), binary.BigEndian.Uint64(id[8:])
	structured := protowire.SizeTag(1) + protowire.SizeVarint(most) + protowire.SizeTag(2) + protowire.SizeVarint(least)
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(protowire.SizeTag(1)+protowire.SizeBytes(structured)))
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(structured))
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, most)
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	b = protowire.AppendVarint(b, least)
	// stream_identifier (2): StreamIdentifier{stream_name (3)}
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(protowire.SizeTag(3)+protowire.SizeBytes(len(stream))))
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	b = protowire.AppendString(b, stream)
	// metadata (6): map entries {key (1), value (2)}
	for _, kv := range [3][2]string{{"type", typ}, {"content-type", contentType}, {"created", string(createdStr)}} {
		b = protowire.AppendTag(b, 6, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(protowire.SizeTag(1)+protowire.SizeBytes(len(kv[0]))+protowire.SizeTag(2)+protowire.SizeBytes(len(kv[1]))))
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendString(b, kv[0])
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendString(b, kv[1])
	}
	// custom_metadata (7), data (8)
	b = protowire.AppendTag(b, 7, protowire.BytesType)
	b = protowire.AppendBytes(b, custom)
	b = protowire.AppendTag(b, 8, protowire.BytesType)
	b = protowire.AppendBytes(b, data)
	return proposed{id: id, typ: typ, data: data, header: recordHeader(created, stream, typ), body: b}
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
