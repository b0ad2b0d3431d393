package messaging

import (
	"fmt"

	"github.com/troupe-dev/troupe/schemas"
)

// The SDK enforces the published contract at the edge, before any handler
// runs: a payload is validated against the JSON Schema of the version it
// was written as (so a v1 payload is held to the v1 contract), then upcast
// to the current version of its event, which is what handlers and Meta see.
// A payload that fails either step can never succeed, so it is
// dead-lettered at once with the reason in troupe-dlq-error.

// currentType returns the type a delivery of eventType is handled as: the
// current version of its event (itself when it is not superseded).
func (s *Subscriber) currentType(eventType string) string {
	cur, _ := s.cfg.Registry.Current(eventType)
	return cur
}

// prepare validates payload against eventType's schema and upcasts it,
// returning the current type and payload, or an error wrapping
// errUndecodable.
func (s *Subscriber) prepare(eventType string, payload []byte) (string, []byte, error) {
	if err := s.cfg.Schemas.Validate(eventType, payload); err != nil {
		return "", nil, fmt.Errorf("%w: %v", errUndecodable, err)
	}
	cur, up, err := s.cfg.Registry.Upcast(eventType, payload)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %v", errUndecodable, err)
	}
	return cur, up, nil
}

// compileSchemas is the default of SubscriberConfig.Schemas.
func compileSchemas() (*schemas.Set, error) {
	set, err := schemas.Compile()
	if err != nil {
		return nil, fmt.Errorf("subscriber: compile event schemas: %w", err)
	}
	return set, nil
}
