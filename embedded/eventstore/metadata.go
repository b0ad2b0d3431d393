package eventstore

import (
	"encoding/json"
	"math"
	"strings"
)

// metadataStreamPrefix marks a metadata stream: "$$orders-1" holds the
// metadata of "orders-1".
const metadataStreamPrefix = "$$"

// streamMeta is the part of a stream's metadata the server enforces. ACLs,
// $cacheControl and custom properties are stored in the metadata event as
// written and returned as is; they are not enforced.
type streamMeta struct {
	maxCount       int64 // 0: unlimited
	maxAgeTicks    int64 // 0: unlimited; in 100 ns ticks
	truncateBefore int64 // 0: nothing truncated; math.MaxInt64: soft-deleted
}

// softDeleted reports whether the stream was soft-deleted and not yet
// written to again.
func (m streamMeta) softDeleted() bool { return m.truncateBefore == math.MaxInt64 }

// parseStreamMeta reads the enforced properties from a metadata event body.
// Malformed metadata is ignored, as KurrentDB ignores it.
func parseStreamMeta(data []byte) streamMeta {
	var props map[string]json.RawMessage
	if json.Unmarshal(data, &props) != nil {
		return streamMeta{}
	}
	var m streamMeta
	m.maxCount = jsonInt(props["$maxCount"])
	m.maxAgeTicks = jsonInt(props["$maxAge"])
	if m.maxAgeTicks > 0 {
		if m.maxAgeTicks > math.MaxInt64/10_000_000 {
			m.maxAgeTicks = 0
		} else {
			m.maxAgeTicks *= 10_000_000
		}
	}
	m.truncateBefore = jsonInt(props["$tb"])
	return m
}

// jsonInt reads a non-negative integer, saturating at MaxInt64 (the client
// writes $tb = max int64, which json reads back as 9.223372036854776e18).
func jsonInt(raw json.RawMessage) int64 {
	if len(raw) == 0 {
		return 0
	}
	var f float64
	if json.Unmarshal(raw, &f) != nil || f <= 0 || math.IsNaN(f) {
		return 0
	}
	if f >= math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(f)
}

// withTruncateBefore returns metadata JSON equal to data with $tb set to tb,
// keeping every other property as written.
func withTruncateBefore(data []byte, tb int64) []byte {
	props := map[string]json.RawMessage{}
	if len(data) > 0 {
		_ = json.Unmarshal(data, &props)
		if props == nil {
			props = map[string]json.RawMessage{}
		}
	}
	b, _ := json.Marshal(tb)
	props["$tb"] = b
	out, _ := json.Marshal(props)
	return out
}

// isMetadataStream reports whether name is a metadata stream.
func isMetadataStream(name string) bool { return strings.HasPrefix(name, metadataStreamPrefix) }
