// Package readmodel holds the Redis side of Troupe's read models: applying
// an event's effect exactly once, atomically with the record of what was
// applied.
package readmodel

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// maxWatchRetries bounds ApplyOnce's optimistic retries under contention.
const maxWatchRetries = 50

// ApplyOnce applies an event's effect at most once per source stream
// revision. appliedKey is a hash of stream -> last applied revision; when
// revision is above the stored one, fn queues its writes on pipe and they
// run in one MULTI/EXEC with the new revision, so the effect and its
// dedupe mark move together. A redelivered or replayed event (revision at
// or below the stored one) changes nothing and reports false. Revisions may
// have gaps. Concurrent calls for one key are safe (WATCH retries).
func ApplyOnce(ctx context.Context, rdb redis.UniversalClient, appliedKey, stream string, revision uint64,
	fn func(pipe redis.Pipeliner) error) (applied bool, err error) {
	for i := 0; i < maxWatchRetries; i++ {
		err = rdb.Watch(ctx, func(tx *redis.Tx) error {
			cur, err := tx.HGet(ctx, appliedKey, stream).Result()
			switch {
			case errors.Is(err, redis.Nil):
			case err != nil:
				return err
			default:
				have, perr := strconv.ParseUint(cur, 10, 64)
				if perr != nil {
					return fmt.Errorf("applied revision of %s is %q: %w", stream, cur, perr)
				}
				if revision <= have {
					applied = false
					return nil
				}
			}
			_, err = tx.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
				if err := fn(pipe); err != nil {
					return err
				}
				pipe.HSet(ctx, appliedKey, stream, revision)
				return nil
			})
			applied = err == nil
			return err
		}, appliedKey)
		if !errors.Is(err, redis.TxFailedErr) {
			break
		}
	}
	if err != nil {
		return false, fmt.Errorf("apply %s@%d: %w", stream, revision, err)
	}
	return applied, nil
}
