package messaging

import (
	"strconv"
	"time"

	"github.com/IBM/sarama"
)

// Meta is what a handler learns about a delivered event besides its payload.
type Meta struct {
	// EventID is deterministic from the source event: two deliveries of one
	// event carry the same id.
	EventID string
	// EventType is the versioned type name.
	EventType string
	// Stream is the source stream (also the record key); Revision is the
	// source event's revision in it. Revisions of one stream only grow, with
	// gaps where the context kept events private.
	Stream   string
	Revision uint64
	// CorrelationID, CausationID and Traceparent come from the headers.
	CorrelationID string
	CausationID   string
	Traceparent   string
	// OccurredAt is when the event happened.
	OccurredAt time.Time
	// Topic, Partition and Offset locate the record in Kafka.
	Topic     string
	Partition int32
	Offset    int64
	// Attempt counts handler calls for this delivery, from 1.
	Attempt int
	// Redriven is true when the event comes from the dead-letter topic.
	Redriven bool
}

// Message is an integration event as it travels on Kafka: key, value and
// headers, independent of any client library.
type Message struct {
	Key     string
	Value   []byte
	Headers map[string]string
	// Timestamp is the record timestamp (the event's occurred-at).
	Timestamp time.Time
}

// metaFrom reads the design's headers; missing ones stay zero, and the
// second result reports whether the message is well-formed enough to route
// (it has a type and a stream).
func metaFrom(h map[string]string) (Meta, bool) {
	m := Meta{
		EventID:       h[HeaderEventID],
		EventType:     h[HeaderEventType],
		Stream:        h[HeaderStream],
		CorrelationID: h[HeaderCorrelationID],
		CausationID:   h[HeaderCausationID],
		Traceparent:   h[HeaderTraceparent],
	}
	if rev, err := strconv.ParseUint(h[HeaderRevision], 10, 64); err == nil {
		m.Revision = rev
	}
	if at, err := time.Parse(time.RFC3339Nano, h[HeaderOccurredAt]); err == nil {
		m.OccurredAt = at
	}
	return m, m.EventType != "" && m.Stream != "" && m.EventID != ""
}

func headersOf(rh []*sarama.RecordHeader) map[string]string {
	h := make(map[string]string, len(rh))
	for _, x := range rh {
		if x != nil {
			h[string(x.Key)] = string(x.Value)
		}
	}
	return h
}

func recordHeaders(h map[string]string) []sarama.RecordHeader {
	out := make([]sarama.RecordHeader, 0, len(h))
	for k, v := range h {
		out = append(out, sarama.RecordHeader{Key: []byte(k), Value: []byte(v)})
	}
	return out
}
