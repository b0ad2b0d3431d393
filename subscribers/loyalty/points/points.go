// Package points is the loyalty read model in Redis: each customer's
// points, earned on captured payments and taken back on refunds, applied
// exactly once per source event.
package points

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/troupe-dev/troupe/shared/platform/readmodel"
)

// CentsPerPoint is the value of one point: one whole currency unit.
const CentsPerPoint = 100

// For returns the points an amount is worth: one per whole currency unit,
// rounded down (1999 cents -> 19 points). A negative amount is an error.
func For(amountCents int64) (int64, error) {
	if amountCents < 0 {
		return 0, fmt.Errorf("amount %d cents: must not be negative", amountCents)
	}
	return amountCents / CentsPerPoint, nil
}

// Account is one customer's loyalty balance. Points = Earned - Reversed.
type Account struct {
	CustomerID string `json:"customerId"`
	Points     int64  `json:"points"`
	// Earned is every point granted for a captured payment; Reversed every
	// point taken back by a refund.
	Earned   int64 `json:"earnedPoints"`
	Reversed int64 `json:"reversedPoints"`
}

// Source locates the event being applied: its stream and revision (the
// exactly-once key) and its Kafka position (stored with the effect, so a
// restart resumes where Redis says it stopped).
type Source struct {
	Stream    string
	Revision  uint64
	Topic     string // "" when the event does not come from Kafka
	Partition int32
	Offset    int64
	// OccurredAt, when set, advances the model's newest applied time (for
	// lag).
	OccurredAt time.Time
}

// Model is the read model under one key root. It is a value over Redis and
// safe for concurrent use.
type Model struct {
	root string
}

// New returns the model whose keys all start with root (e.g.
// "troupe:rm:loyalty:").
func New(root string) *Model { return &Model{root: root} }

// AppliedKey is the hash of stream -> last applied revision.
func (m *Model) AppliedKey() string { return m.root + "applied" }

// OffsetsKey is the hash of readmodel.OffsetField -> next Kafka offset.
func (m *Model) OffsetsKey() string { return m.root + "offsets" }

// MetaKey is the sorted set of bookkeeping scores: "newest", the newest
// applied occurred-at time in Unix ms (only ever raised, with ZADD GT, so
// partitions applied concurrently cannot move it back).
func (m *Model) MetaKey() string { return m.root + "meta" }

func (m *Model) accountKey(customerID string) string { return m.root + "customer:" + customerID }

// Earn grants points to a customer for the event at src, once: a
// redelivered or replayed event (revision at or below the stream's applied
// one) changes nothing and reports false.
func (m *Model) Earn(ctx context.Context, rdb redis.UniversalClient, src Source, customerID string, pts int64) (bool, error) {
	return m.apply(ctx, rdb, src, customerID, pts, "earned")
}

// Reverse takes points back from a customer for the event at src, once
// (see Earn).
func (m *Model) Reverse(ctx context.Context, rdb redis.UniversalClient, src Source, customerID string, pts int64) (bool, error) {
	return m.apply(ctx, rdb, src, customerID, -pts, "reversed")
}

func (m *Model) apply(ctx context.Context, rdb redis.UniversalClient, src Source, customerID string, delta int64, field string) (bool, error) {
	if customerID == "" {
		return false, errors.New("loyalty: event without a customer id")
	}
	abs := delta
	if abs < 0 {
		abs = -abs
	}
	// The effect, the applied revision and the Kafka offset commit in one
	// MULTI/EXEC: a crash leaves either all three or none.
	return readmodel.ApplyOnce(ctx, rdb, m.AppliedKey(), src.Stream, src.Revision, func(pipe redis.Pipeliner) error {
		key := m.accountKey(customerID)
		pipe.HIncrBy(ctx, key, "points", delta)
		pipe.HIncrBy(ctx, key, field, abs)
		if src.Topic != "" {
			pipe.HSet(ctx, m.OffsetsKey(), readmodel.OffsetField(src.Topic, src.Partition), src.Offset+1)
		}
		if !src.OccurredAt.IsZero() {
			pipe.ZAddArgs(ctx, m.MetaKey(), redis.ZAddArgs{GT: true,
				Members: []redis.Z{{Score: float64(src.OccurredAt.UnixMilli()), Member: "newest"}}})
		}
		return nil
	})
}

// Account returns a customer's balance; a customer never seen has zero
// points (not an error: they simply have not bought anything yet).
func (m *Model) Account(ctx context.Context, rdb redis.UniversalClient, customerID string) (Account, error) {
	raw, err := rdb.HGetAll(ctx, m.accountKey(customerID)).Result()
	if err != nil {
		return Account{}, fmt.Errorf("loyalty account %s: %w", customerID, err)
	}
	a := Account{CustomerID: customerID}
	for f, dst := range map[string]*int64{"points": &a.Points, "earned": &a.Earned, "reversed": &a.Reversed} {
		if v, ok := raw[f]; ok {
			if *dst, err = strconv.ParseInt(v, 10, 64); err != nil {
				return Account{}, fmt.Errorf("loyalty account %s: %s is %q: %w", customerID, f, v, err)
			}
		}
	}
	return a, nil
}

// NewestApplied returns the occurred-at time of the newest event applied,
// or the zero time when none (or none with a time) was.
func (m *Model) NewestApplied(ctx context.Context, rdb redis.UniversalClient) (time.Time, error) {
	ms, err := rdb.ZScore(ctx, m.MetaKey(), "newest").Result()
	if errors.Is(err, redis.Nil) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("loyalty newest applied: %w", err)
	}
	return time.UnixMilli(int64(ms)).UTC(), nil
}

// Offsets returns the stored next offset per partition (keyed by
// readmodel.OffsetField); empty when nothing was applied yet.
func (m *Model) Offsets(ctx context.Context, rdb redis.UniversalClient) (map[string]int64, error) {
	raw, err := rdb.HGetAll(ctx, m.OffsetsKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("loyalty offsets: %w", err)
	}
	out := make(map[string]int64, len(raw))
	for f, v := range raw {
		o, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("loyalty offset %s is %q: %w", f, v, err)
		}
		out[f] = o
	}
	return out, nil
}
