package readmodel

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNotReached is returned by WaitApplied when the model has not applied
// the wanted revisions in time.
var ErrNotReached = errors.New("read model has not reached the requested revisions")

// Want is one stream revision a reader wants applied before it reads.
type Want struct {
	Stream   string
	Revision uint64
}

// WaitApplied waits until the live generation has applied at least each
// wanted revision, polling every poll (default 10 ms) for at most timeout.
// It returns nil once all are applied, ErrNotReached after timeout (or
// ErrNoModel if the model was never built), or ctx's error.
func (n Namespace) WaitApplied(ctx context.Context, rdb redis.UniversalClient, want []Want, timeout, poll time.Duration) error {
	if len(want) == 0 {
		return nil
	}
	if poll <= 0 {
		poll = 10 * time.Millisecond
	}
	streams := make([]string, len(want))
	for i, w := range want {
		streams[i] = w.Stream
	}
	deadline := time.Now().Add(timeout)
	var last error
	for {
		have, err := n.Applied(ctx, rdb, streams...)
		switch {
		case err == nil:
			last = ErrNotReached
			reached := true
			for _, w := range want {
				if r, ok := have[w.Stream]; !ok || r < w.Revision {
					reached = false
					last = fmt.Errorf("%w: %s is at %s, wanted %d", ErrNotReached, w.Stream, revString(r, ok), w.Revision)
					break
				}
			}
			if reached {
				return nil
			}
		case errors.Is(err, ErrNoModel):
			last = err
		default:
			return err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return last
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(poll, left)):
		}
	}
}

func revString(r uint64, ok bool) string {
	if !ok {
		return "nothing"
	}
	return fmt.Sprint(r)
}
