package messaging

// Kafka record headers on every integration event (DESIGN.md, "Streams,
// topics, messages"). The record key is the source stream and the value the
// event's JSON payload alone.
const (
	// HeaderEventID is deterministic from the source event, so a
	// re-publication is a duplicate downstream, not a new event.
	HeaderEventID = "troupe-event-id"
	// HeaderEventType is the versioned type, e.g. "ordering.order_placed.v1".
	HeaderEventType = "troupe-event-type"
	// HeaderStream is the source stream name (also the record key).
	HeaderStream = "troupe-stream"
	// HeaderRevision is the source event's revision in its stream, decimal.
	HeaderRevision = "troupe-revision"
	// HeaderCorrelationID ties every event of one saga together.
	HeaderCorrelationID = "troupe-correlation-id"
	// HeaderCausationID is the id of the event or command that caused this one.
	HeaderCausationID = "troupe-causation-id"
	// HeaderOccurredAt is the event's time, RFC 3339.
	HeaderOccurredAt = "troupe-occurred-at"
	// HeaderTraceparent is the W3C trace context of the write.
	HeaderTraceparent = "traceparent"
	// HeaderContentType is always "application/json".
	HeaderContentType = "content-type"
)

// Headers added to a dead-lettered message, beside its original key, value
// and headers.
const (
	// HeaderDLQSubscriber names the subscriber that gave up on the message.
	HeaderDLQSubscriber = "troupe-dlq-subscriber"
	// HeaderDLQError is the last handler error (or "parked behind <id>").
	HeaderDLQError = "troupe-dlq-error"
	// HeaderDLQAttempts is how many times the handler was tried.
	HeaderDLQAttempts = "troupe-dlq-attempts"
	// HeaderDLQAt is when it was dead-lettered, RFC 3339.
	HeaderDLQAt = "troupe-dlq-at"
)

// ContentTypeJSON is the content type of every integration event payload.
const ContentTypeJSON = "application/json"

// TopicFor returns the integration-event topic of a context ("catalog" ->
// "catalog.events").
func TopicFor(context string) string { return context + ".events" }

// DLQTopic returns the dead-letter topic of a subscriber ("loyalty" ->
// "loyalty.dlq").
func DLQTopic(subscriber string) string { return subscriber + ".dlq" }
