package events

import (
	"encoding/json"
	"fmt"
)

// Upcaster turns a payload of type From into one of type To, the next
// version of the same event. Up must be pure and deterministic: replays
// and redeliveries upcast the same payload again and must get the same
// result.
type Upcaster struct {
	From, To string
	Up       func(payload []byte) ([]byte, error)
}

// Upcasters returns every evolution of Troupe's integration events. Adding
// a version of an event means adding the step from the previous one here
// (see docs/events.md).
func Upcasters() []Upcaster {
	return []Upcaster{
		{From: TypeOrderPlacedV1, To: TypeOrderPlaced, Up: upcastOrderPlacedV1},
	}
}

// Historical returns a zero value of every superseded event version (the
// From side of Upcasters), in a stable order. Nothing receives these types
// on read; they document the payloads that history still holds.
func Historical() []Event {
	return []Event{OrderPlacedV1{}}
}

// upcastOrderPlacedV1: v2 adds shippingAddress; a v1 order's address is
// unknown, which v2 spells null. Every other field is carried unchanged
// (unknown ones too, so nothing a producer wrote is lost).
func upcastOrderPlacedV1(payload []byte) ([]byte, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(payload, &fields); err != nil {
		return nil, err
	}
	if fields == nil {
		return nil, fmt.Errorf("payload is null, not an object")
	}
	if _, ok := fields["shippingAddress"]; !ok {
		fields["shippingAddress"] = json.RawMessage("null")
	}
	return json.Marshal(fields)
}

// Chain applies upcasters one after another until a payload reaches the
// current version of its event. It is immutable and safe for concurrent
// use.
type Chain struct {
	next map[string]Upcaster
}

// NewChain returns a chain of the given steps, or of Upcasters() when none
// are given. Two steps from one type, a step that changes the event's
// context, or a cycle panics: those are programming errors found at wiring
// time.
func NewChain(ups ...Upcaster) *Chain {
	if len(ups) == 0 {
		ups = Upcasters()
	}
	c := &Chain{next: make(map[string]Upcaster, len(ups))}
	for _, u := range ups {
		if _, dup := c.next[u.From]; dup {
			panic("events: two upcasters from " + u.From)
		}
		if u.Up == nil || u.From == u.To || ContextOf(u.From) != ContextOf(u.To) {
			panic("events: bad upcaster " + u.From + " -> " + u.To)
		}
		c.next[u.From] = u
	}
	for from := range c.next {
		seen := map[string]bool{}
		for t := from; ; {
			u, ok := c.next[t]
			if !ok {
				break
			}
			if seen[t] {
				panic("events: upcaster cycle through " + t)
			}
			seen[t] = true
			t = u.To
		}
	}
	return c
}

// Current returns the type a payload of eventType ends as after upcasting
// (eventType itself when it is not superseded).
func (c *Chain) Current(eventType string) string {
	for {
		u, ok := c.next[eventType]
		if !ok {
			return eventType
		}
		eventType = u.To
	}
}

// Upcast turns a payload of eventType into the current version, returning
// that version's type and payload. A payload already current is returned
// as it is, without copying.
func (c *Chain) Upcast(eventType string, payload []byte) (string, []byte, error) {
	for {
		u, ok := c.next[eventType]
		if !ok {
			return eventType, payload, nil
		}
		up, err := u.Up(payload)
		if err != nil {
			return "", nil, fmt.Errorf("upcast %s to %s: %w", u.From, u.To, err)
		}
		eventType, payload = u.To, up
	}
}
