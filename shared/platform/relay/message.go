package relay

import (
	"errors"
	"strconv"
	"time"

	"github.com/IBM/sarama"

	"github.com/troupe-dev/troupe/shared/platform/eventstore"
	"github.com/troupe-dev/troupe/shared/platform/messaging"
)

// errPoisoned fails every message a failed producer session still holds,
// so that none of them reaches Kafka after an earlier one failed.
var errPoisoned = errors.New("relay: producer session failed; message withheld")

// headerKeys are the header names in the order outMsg fills them.
var headerKeys = [...]string{
	messaging.HeaderEventID,
	messaging.HeaderEventType,
	messaging.HeaderStream,
	messaging.HeaderRevision,
	messaging.HeaderCorrelationID,
	messaging.HeaderCausationID,
	messaging.HeaderOccurredAt,
	messaging.HeaderContentType,
	messaging.HeaderTraceparent, // last: left out when the event has none
}

// outMsg is one publication: the sarama message and everything it points
// to, in one allocation. Metadata points back at it so that the producer's
// answer finds its sequence number. It is never reused: sarama still reads
// a message after failing it (the retry count, for its backoff).
type outMsg struct {
	pm      sarama.ProducerMessage
	key     stringKey
	value   guardedValue
	headers [len(headerKeys)]sarama.RecordHeader
	seq     uint64
}

// stringKey encodes the record key without converting it to []byte up
// front.
type stringKey string

func (k *stringKey) Encode() ([]byte, error) { return []byte(*k), nil }
func (k *stringKey) Length() int             { return len(*k) }

// guardedValue is the record value. The producer encodes a message when it
// adds it to a batch; once the session failed, it refuses, so a message
// still queued in the producer fails instead of reaching Kafka behind (and
// out of order with) the one that failed.
type guardedValue struct {
	b []byte
	s *session
}

func (v *guardedValue) Encode() ([]byte, error) {
	if v.s.poisoned.Load() {
		return nil, errPoisoned
	}
	return v.b, nil
}

func (v *guardedValue) Length() int { return len(v.b) }

// occurredAt is when a domain event happened: the writer's time from its
// metadata, or the store's time for events written without Troupe's
// metadata.
func occurredAt(ev *eventstore.RecordedEvent) time.Time {
	if !ev.Metadata.OccurredAt.IsZero() {
		return ev.Metadata.OccurredAt
	}
	return ev.Created
}

// newOutMsg builds the Kafka record for ie, the integration event of ev:
// key = source stream, value = payload, timestamp = occurred-at, and the
// headers of DESIGN.md. Correlation and causation default to the source
// event's id for events written without them (a chain starts there);
// traceparent is left out when there is none.
func newOutMsg(s *session, ev *eventstore.RecordedEvent, ie Event) *outMsg {
	r := s.r
	o := &outMsg{key: stringKey(ev.Stream), value: guardedValue{b: ie.Payload, s: s}}
	at := occurredAt(ev).UTC()
	md := &ev.Metadata
	corr, caus := md.CorrelationID, md.CausationID
	if corr == "" {
		corr = ev.ID.String()
	}
	if caus == "" {
		caus = corr
	}

	// One buffer holds every header value; ends[i] is where value i ends.
	buf := make([]byte, 0, 36+len(ie.Type)+len(ev.Stream)+20+len(corr)+len(caus)+
		len(time.RFC3339Nano)+len(messaging.ContentTypeJSON)+len(md.Traceparent))
	var ends [len(headerKeys)]int
	buf = appendUUID(buf, EventID(ev.ID, r.topic))
	ends[0] = len(buf)
	buf = append(buf, ie.Type...)
	ends[1] = len(buf)
	buf = append(buf, ev.Stream...)
	ends[2] = len(buf)
	buf = strconv.AppendUint(buf, ev.Revision, 10)
	ends[3] = len(buf)
	buf = append(buf, corr...)
	ends[4] = len(buf)
	buf = append(buf, caus...)
	ends[5] = len(buf)
	buf = at.AppendFormat(buf, time.RFC3339Nano)
	ends[6] = len(buf)
	buf = append(buf, messaging.ContentTypeJSON...)
	ends[7] = len(buf)
	count := len(headerKeys) - 1
	if md.Traceparent != "" {
		buf = append(buf, md.Traceparent...)
		count++
	}
	ends[8] = len(buf)
	from := 0
	for i := 0; i < count; i++ {
		o.headers[i] = sarama.RecordHeader{Key: r.headerKeys[i], Value: buf[from:ends[i]:ends[i]]}
		from = ends[i]
	}

	o.pm = sarama.ProducerMessage{
		Topic:     r.topic,
		Key:       &o.key,
		Value:     &o.value,
		Headers:   o.headers[:count],
		Timestamp: at,
		Metadata:  o,
	}
	return o
}

// appendUUID appends the canonical text form of id.
func appendUUID(dst []byte, id [16]byte) []byte {
	const hex = "0123456789abcdef"
	for i, b := range id {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst = append(dst, '-')
		}
		dst = append(dst, hex[b>>4], hex[b&0x0f])
	}
	return dst
}
