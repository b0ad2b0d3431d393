package eventstore

import (
	"encoding/binary"
	"errors"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// Keys in the Pebble database:
//
//	'e' + position (8 bytes, big endian)             -> event record
//	'r' + len(name) (2 bytes) + name + revision (8)  -> position (8 bytes)
//
// The 'e' range is the $all log; the 'r' range indexes each stream. A
// tombstone is the stream's entry at revision tombstoneRevision.
const (
	prefixEvent  = 'e'
	prefixStream = 'r'

	// tombstoneRevision is the revision of a $streamDeleted event, like
	// KurrentDB's EventNumber.DeletedStream.
	tombstoneRevision = math.MaxInt64
	// recordVersion tags the record layout so it can evolve.
	recordVersion = 1
)

func eventKey(pos uint64) []byte {
	k := make([]byte, 9)
	k[0] = prefixEvent
	binary.BigEndian.PutUint64(k[1:], pos)
	return k
}

func streamPrefix(name string) []byte {
	k := make([]byte, 0, 3+len(name)+8)
	k = append(k, prefixStream, byte(len(name)>>8), byte(len(name)))
	return append(k, name...)
}

func streamKey(name string, rev int64) []byte {
	return binary.BigEndian.AppendUint64(streamPrefix(name), uint64(rev))
}

// streamUpper is the exclusive upper bound of a stream's index range.
func streamUpper(name string) []byte {
	return binary.BigEndian.AppendUint64(streamPrefix(name), math.MaxUint64)
}

func revFromStreamKey(k []byte) int64 {
	return int64(binary.BigEndian.Uint64(k[len(k)-8:]))
}

func putPos(pos uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, pos)
}

// A record is one stored event: a small header the server filters on without
// decoding protobuf, then a serialized RecordedEvent
// (event_store.client.streams.ReadResp.ReadEvent.RecordedEvent) that already
// carries its revision and positions, ready to be sent as is:
//
//	version(1) | created ticks (8) | uvarint len + stream | uvarint len + type | RecordedEvent
type record struct {
	created int64 // .NET ticks (100 ns) since the Unix epoch
	stream  string
	typ     string
	proto   []byte
}

var errCorruptRecord = errors.New("eventstore: corrupt event record")

// recordHeader encodes the header that precedes the protobuf body.
func recordHeader(created int64, stream, typ string) []byte {
	b := make([]byte, 0, 1+8+2*binary.MaxVarintLen16+len(stream)+len(typ))
	b = append(b, recordVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(created))
	b = binary.AppendUvarint(b, uint64(len(stream)))
	b = append(b, stream...)
	b = binary.AppendUvarint(b, uint64(len(typ)))
	return append(b, typ...)
}

// decodeRecord parses v without copying; the result aliases v.
func decodeRecord(v []byte) (record, error) {
	var r record
	if len(v) < 9 || v[0] != recordVersion {
		return r, errCorruptRecord
	}
	r.created = int64(binary.BigEndian.Uint64(v[1:9]))
	v = v[9:]
	n, w := binary.Uvarint(v)
	if w <= 0 || uint64(len(v)-w) < n {
		return r, errCorruptRecord
	}
	r.stream = string(v[w : w+int(n)])
	v = v[w+int(n):]
	n, w = binary.Uvarint(v)
	if w <= 0 || uint64(len(v)-w) < n {
		return r, errCorruptRecord
	}
	r.typ = string(v[w : w+int(n)])
	r.proto = v[w+int(n):]
	return r, nil
}

// appendPositionFields appends the RecordedEvent fields stream_revision (3),
// prepare_position (4) and commit_position (5) to a serialized message; a
// protobuf message may carry its fields in any order.
func appendPositionFields(b []byte, rev int64, pos uint64) []byte {
	b = protowire.AppendTag(b, 3, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(rev))
	b = protowire.AppendTag(b, 4, protowire.VarintType)
	b = protowire.AppendVarint(b, pos)
	b = protowire.AppendTag(b, 5, protowire.VarintType)
	return protowire.AppendVarint(b, pos)
}

// readRespEvent builds the wire form of a ReadResp carrying one event:
// ReadResp{event: ReadEvent{event: <recorded>, commit_position: pos}}.
func readRespEvent(recorded []byte, pos uint64) []byte {
	inner := protowire.SizeTag(1) + protowire.SizeBytes(len(recorded)) +
		protowire.SizeTag(3) + protowire.SizeVarint(pos)
	b := make([]byte, 0, protowire.SizeTag(1)+protowire.SizeBytes(inner))
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(inner))
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendBytes(b, recorded)
	b = protowire.AppendTag(b, 3, protowire.VarintType)
	return protowire.AppendVarint(b, pos)
}
