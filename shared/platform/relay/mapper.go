package relay

import (
	"github.com/google/uuid"

	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

// Event is the integration event a Mapper makes of a domain event.
type Event struct {
	// Type is the versioned integration event type, which must start with
	// the relay's context and a dot ("catalog.product_listed.v1").
	Type string
	// Payload is the event's JSON, published as the record value alone.
	Payload []byte
}

// Mapper turns a context's domain events into integration events. Map
// returns ok false for a private event, which is not published (its position
// still counts as handled). An error stops the relay: Run returns it, with
// the checkpoint before the event, so a fixed deployment retries it; an
// event is never skipped because it could not be mapped. Map is called from
// one goroutine, in $all order, and again for the same event after a
// restart, so it must be deterministic and free of side effects.
type Mapper interface {
	Map(ev eventstore.RecordedEvent) (ie Event, ok bool, err error)
}

// TypedMapper is a Mapper that names every domain event type it may
// publish. A relay whose Mapper implements it subscribes to those types
// only (a server-side event-type filter), so the events Map would skip
// (intents, per-order holds, private notes: about half of a saga's) never
// leave the event store. Map still decides for each event it is given.
// Every name must start with the relay's context and a dot, as the
// context's stream names do; New refuses the relay otherwise, and an empty
// list, which would publish nothing.
type TypedMapper interface {
	Mapper
	SourceTypes() []string
}

// MapperFunc adapts a function to Mapper.
type MapperFunc func(ev eventstore.RecordedEvent) (Event, bool, error)

// Map calls f.
func (f MapperFunc) Map(ev eventstore.RecordedEvent) (Event, bool, error) { return f(ev) }

// EventID is the id of the integration event published for the source
// event sourceID on topic: eventstore.EventID(sourceID, topic, 0), a UUID v5,
// so every (re)publication of a source event carries the same id and
// consumers recognise the repeat.
func EventID(sourceID uuid.UUID, topic string) uuid.UUID {
	return eventstore.EventID(sourceID.String(), topic, 0)
}
