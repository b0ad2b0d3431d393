package app

import (
	"context"

	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

// Cause identifies the integration event a policy reacts to. EventID is
// deterministic per source event, so a redelivery carries the same one and
// the aggregates recognise it.
type Cause struct {
	EventID       string
	CorrelationID string
	Traceparent   string
}

// with returns ctx carrying the cause's metadata for the events it leads to.
func (c Cause) with(ctx context.Context) context.Context {
	correlation := c.CorrelationID
	if correlation == "" {
		correlation = c.EventID
	}
	ctx = eventstore.WithCorrelation(ctx, correlation)
	ctx = eventstore.WithCausation(ctx, c.EventID)
	if c.Traceparent != "" {
		ctx = eventstore.WithTraceparent(ctx, c.Traceparent)
	}
	return ctx
}
