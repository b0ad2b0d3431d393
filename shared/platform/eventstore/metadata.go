package eventstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Metadata is the JSON metadata written with every event the Repository
// appends. The key names of the ids follow KurrentDB's convention
// ($correlationId, $causationId) so its $by_correlation_id projection works.
type Metadata struct {
	// CorrelationID is shared by every event of one chain of cause and effect
	// (one user request and everything it leads to).
	CorrelationID string `json:"$correlationId"`
	// CausationID is the id of the message (event or command) that caused
	// this event; for the first event of a chain it equals CorrelationID.
	CausationID string `json:"$causationId"`
	// Traceparent is the W3C trace context of the request that wrote it.
	Traceparent string `json:"traceparent"`
	// OccurredAt is when the writer recorded the event (not the store's
	// commit time).
	OccurredAt time.Time `json:"occurredAt"`
}

// ParseMetadata decodes event metadata; events written by other tools may
// carry none, which yields the zero Metadata and no error. It is on the hot
// path of every subscription (the relay parses every event), so the common
// shape (a flat object of plain strings, which is what the Repository
// writes) is scanned by hand; anything else goes through encoding/json with
// the same result.
func ParseMetadata(raw []byte) (Metadata, error) {
	var m Metadata
	if len(raw) == 0 {
		return m, nil
	}
	if parseFlatMetadata(raw, &m) {
		return m, nil
	}
	m = Metadata{}
	err := json.Unmarshal(raw, &m)
	return m, err
}

// parseFlatMetadata fills m from a JSON object whose values are all strings
// without escapes. It reports false, leaving m partly filled, for any other
// input, which the caller then hands to encoding/json.
func parseFlatMetadata(b []byte, m *Metadata) bool {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return skipSpace(b, i+1) == len(b)
	}
	for {
		key, next, ok := plainString(b, i)
		if !ok {
			return false
		}
		i = skipSpace(b, next)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		val, next, ok := plainString(b, skipSpace(b, i+1))
		if !ok {
			return false
		}
		// encoding/json matches keys case-insensitively; so does this.
		switch {
		case strings.EqualFold(string(key), "$correlationId"):
			m.CorrelationID = string(val)
		case strings.EqualFold(string(key), "$causationId"):
			m.CausationID = string(val)
		case strings.EqualFold(string(key), "traceparent"):
			m.Traceparent = string(val)
		case strings.EqualFold(string(key), "occurredAt"):
			t, err := time.Parse(time.RFC3339Nano, string(val))
			if err != nil {
				return false
			}
			m.OccurredAt = t
		}
		i = skipSpace(b, next)
		if i >= len(b) {
			return false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return skipSpace(b, i+1) == len(b)
		default:
			return false
		}
	}
}

// plainString reads a JSON string starting at b[i] that has no escapes and
// only printable ASCII or UTF-8 bytes; it returns its content and the index
// after the closing quote.
func plainString(b []byte, i int) (s []byte, next int, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return b[i+1 : j], j + 1, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, 0, false // escapes, control or non-ASCII bytes: let encoding/json decide
		}
	}
	return nil, 0, false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

type ctxKey int

const (
	correlationKey ctxKey = iota
	causationKey
	traceparentKey
	eventIDSourceKey
	newStreamKey
)

// WithCorrelation returns a context whose appends carry correlationID.
func WithCorrelation(ctx context.Context, correlationID string) context.Context {
	return context.WithValue(ctx, correlationKey, correlationID)
}

// WithCausation returns a context whose appends carry causationID, the id of
// the message that caused them (typically the source event's id).
func WithCausation(ctx context.Context, causationID string) context.Context {
	return context.WithValue(ctx, causationKey, causationID)
}

// WithTraceparent returns a context whose appends carry the W3C traceparent.
func WithTraceparent(ctx context.Context, traceparent string) context.Context {
	return context.WithValue(ctx, traceparentKey, traceparent)
}

// WithEventIDSource returns a context under which the Repository derives the
// ids of the events it appends from source (see [EventID]) instead of
// drawing random ones, so a command replayed for the same source (a
// redelivered message, a resumed intent) appends the same ids and the store
// treats the repeat as a duplicate. One source should drive at most one
// append per stream.
func WithEventIDSource(ctx context.Context, source string) context.Context {
	return context.WithValue(ctx, eventIDSourceKey, source)
}

// WithNewStream returns a context under which Update expects the
// aggregate's stream not to exist yet (an id the caller just drew, the
// first event of a process) and, unless its cache holds the stream, starts
// from a new aggregate without reading the store. When the stream does
// exist, the append's no_stream check fails and the update reloads and
// decides again; a decision that appends nothing is taken again on the
// store's state, as for a cached aggregate. A wrong guess therefore costs
// a round trip, never a wrong write. Not for aggregates with snapshots.
func WithNewStream(ctx context.Context) context.Context {
	return context.WithValue(ctx, newStreamKey, true)
}

func expectsNewStream(ctx context.Context) bool {
	v, _ := ctx.Value(newStreamKey).(bool)
	return v
}

// WithCause returns a context for the commands an event causes: their
// events carry ev's correlation id (ev's own id when it has none), ev's id
// as causation id and ev's traceparent, and their ids derive from ev's id
// (see [WithEventIDSource]), so handling ev again appends nothing new.
func WithCause(ctx context.Context, ev RecordedEvent) context.Context {
	id := ev.ID.String()
	correlation := ev.Metadata.CorrelationID
	if correlation == "" {
		correlation = id
	}
	ctx = WithCorrelation(ctx, correlation)
	ctx = WithCausation(ctx, id)
	if ev.Metadata.Traceparent != "" {
		ctx = WithTraceparent(ctx, ev.Metadata.Traceparent)
	}
	return WithEventIDSource(ctx, id)
}

// MetadataFrom returns the correlation id, causation id and traceparent set
// on ctx, each empty when unset; OccurredAt is zero.
func MetadataFrom(ctx context.Context) Metadata {
	var m Metadata
	m.CorrelationID, _ = ctx.Value(correlationKey).(string)
	m.CausationID, _ = ctx.Value(causationKey).(string)
	m.Traceparent, _ = ctx.Value(traceparentKey).(string)
	return m
}

func eventIDSourceFrom(ctx context.Context) (string, bool) {
	s, ok := ctx.Value(eventIDSourceKey).(string)
	return s, ok && s != ""
}

// metadataFor fills what the context leaves unset, so every event carries
// all three ids: a fresh chain starts with a new correlation id that is also
// its causation id, and a fresh trace when none is in flight.
func metadataFor(ctx context.Context, now time.Time) Metadata {
	m := MetadataFrom(ctx)
	if m.CorrelationID == "" {
		if m.CausationID != "" {
			m.CorrelationID = m.CausationID
		} else {
			m.CorrelationID = uuid.NewString()
		}
	}
	if m.CausationID == "" {
		m.CausationID = m.CorrelationID
	}
	if m.Traceparent == "" {
		m.Traceparent = newTraceparent()
	}
	m.OccurredAt = now.UTC()
	return m
}

// newTraceparent starts a sampled W3C trace: version 00, a random 16-byte
// trace id and 8-byte parent id.
func newTraceparent() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return "00-" + hex.EncodeToString(b[:16]) + "-" + hex.EncodeToString(b[16:]) + "-01"
}

// EventID is the deterministic id of the index-th event (from 0) that an
// append driven by source writes to stream: a UUID v5 of the three, so the
// same inputs always give the same id and different streams never collide.
func EventID(source, stream string, index int) uuid.UUID {
	name := make([]byte, 0, len(source)+len(stream)+24)
	name = append(name, source...)
	name = append(name, 0)
	name = append(name, stream...)
	name = append(name, 0)
	name = strconv.AppendInt(name, int64(index), 10)
	return uuid.NewSHA1(eventIDNamespace, name)
}

// eventIDNamespace is the UUID v5 namespace of Troupe's event ids; changing
// it would change every derived id, so it is fixed forever.
var eventIDNamespace = uuid.MustParse("6f1f4b0e-5c1d-4f5e-9a57-7c3b1f0b7e21")
