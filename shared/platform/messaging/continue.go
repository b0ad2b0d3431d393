package messaging

import (
	"context"
	"log/slog"
)

// Continuations runs the rest of handlers' work after they returned, at
// most a fixed number at once. It is for a handler that has made its
// effect durable as an intent (the pattern of DESIGN.md: intent, then
// derived ids) and can leave carrying it out to later, so that its
// partition moves on to the next event: whatever finishes unfinished
// intents (a recovery subscription, the next event of the same entity, a
// redelivery) finishes a rest that failed or was cut short.
type Continuations struct {
	what  string
	slots chan struct{}
	log   *slog.Logger
}

// NewContinuations returns Continuations running at most n rests at once;
// what names them in the log ("reserving stock"). A nil log is
// slog.Default().
func NewContinuations(n int, what string, log *slog.Logger) *Continuations {
	if log == nil {
		log = slog.Default()
	}
	return &Continuations{what: what, slots: make(chan struct{}, max(n, 1)), log: log}
}

// Go starts rest in the background once fewer than n run, and returns
// nil. While n run, it waits, so a backlog holds the handler's partition
// instead of growing. ctx should be the handler's: the subscriber's, which
// ends when it stops or pauses, and rest stops with it. A rest's error is
// logged (naming key) unless ctx ended. Go returns ctx's error when ctx
// ends before rest could start: the handler should return it, so its
// event is not acknowledged and comes again.
func (c *Continuations) Go(ctx context.Context, key string, rest func(context.Context) error) error {
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	go func() {
		defer func() { <-c.slots }()
		if err := rest(ctx); err != nil && ctx.Err() == nil {
			c.log.WarnContext(ctx, c.what+" after its event was handled failed; what finishes unfinished intents will finish it",
				"key", key, "error", err)
		}
	}()
	return nil
}
