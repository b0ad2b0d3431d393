package model

import "github.com/troupe-dev/troupe/shared/events"

// DecodeFast is the Decoder's own path alone: nil when it defers to the
// registry.
func DecodeFast(d *Decoder, eventType string, payload []byte) events.Event {
	return d.fast(eventType, payload)
}
