package readmodel

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNoModel is returned when a read model has no live generation yet (a
// fresh or flushed Redis): it must be rebuilt before it can answer.
var ErrNoModel = errors.New("read model not built")

// Namespace is one read model's key space in Redis. Its data lives under
// "<Root><generation>:", and the key "<Root>alias" names the live
// generation; a rebuild writes a new generation beside the live one and
// switches the alias atomically (see Switch). A Namespace is a value and is
// safe for concurrent use.
type Namespace struct {
	// Root prefixes every key of the model, e.g. "troupe:rm:projections:".
	Root string
}

// AliasKey is the key naming the live generation.
func (n Namespace) AliasKey() string { return n.Root + "alias" }

// Prefix returns the key prefix of generation gen.
func (n Namespace) Prefix(gen string) string { return n.Root + gen + ":" }

// AppliedKey is generation gen's hash of stream -> last applied revision.
func (n Namespace) AppliedKey(gen string) string { return n.Prefix(gen) + "applied" }

// OffsetsKey is generation gen's hash of "topic/partition" -> next offset.
func (n Namespace) OffsetsKey(gen string) string { return n.Prefix(gen) + "offsets" }

// MetaKey is generation gen's hash of bookkeeping: "events" (how many
// events were applied) and "newest" (the latest occurred-at applied, Unix
// ms).
func (n Namespace) MetaKey(gen string) string { return n.Prefix(gen) + "meta" }

// NewGeneration returns a fresh generation name; names sort by creation.
func NewGeneration() string { return "g" + strconv.FormatInt(time.Now().UnixNano(), 36) }

// Live returns the live generation, or ErrNoModel.
func (n Namespace) Live(ctx context.Context, rdb redis.UniversalClient) (string, error) {
	gen, err := rdb.Get(ctx, n.AliasKey()).Result()
	if errors.Is(err, redis.Nil) {
		return "", ErrNoModel
	}
	if err != nil {
		return "", fmt.Errorf("live generation of %s: %w", n.Root, err)
	}
	return gen, nil
}

// OffsetField is the field of a partition in the offsets hash.
func OffsetField(topic string, partition int32) string {
	return topic + "/" + strconv.FormatInt(int64(partition), 10)
}

// ParseOffsetField splits an offsets-hash field into topic and partition.
func ParseOffsetField(f string) (topic string, partition int32, err error) {
	i := strings.LastIndexByte(f, '/')
	if i <= 0 {
		return "", 0, fmt.Errorf("offset field %q: want topic/partition", f)
	}
	p, err := strconv.ParseInt(f[i+1:], 10, 32)
	if err != nil {
		return "", 0, fmt.Errorf("offset field %q: %w", f, err)
	}
	return f[:i], int32(p), nil
}

// Offsets returns generation gen's stored next offset per partition
// (keyed by OffsetField). An empty map means nothing was applied.
func (n Namespace) Offsets(ctx context.Context, rdb redis.UniversalClient, gen string) (map[string]int64, error) {
	raw, err := rdb.HGetAll(ctx, n.OffsetsKey(gen)).Result()
	if err != nil {
		return nil, fmt.Errorf("offsets of %s%s: %w", n.Root, gen, err)
	}
	out := make(map[string]int64, len(raw))
	for f, v := range raw {
		o, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("offset %s of %s%s is %q: %w", f, n.Root, gen, v, err)
		}
		out[f] = o
	}
	return out, nil
}

// Applied returns the live generation's applied revision of each stream;
// a stream never applied is absent from the map.
func (n Namespace) Applied(ctx context.Context, rdb redis.UniversalClient, streams ...string) (map[string]uint64, error) {
	res, err := appliedScript.Run(ctx, rdb, []string{n.AliasKey()}, append([]any{n.Root}, toAny(streams)...)...).Result()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNoModel
	}
	if err != nil {
		return nil, fmt.Errorf("applied revisions in %s: %w", n.Root, err)
	}
	vals, _ := res.([]any)
	out := make(map[string]uint64, len(streams))
	for i, v := range vals {
		s, ok := v.(string)
		if !ok || i >= len(streams) {
			continue
		}
		if rev, err := strconv.ParseUint(s, 10, 64); err == nil {
			out[streams[i]] = rev
		}
	}
	return out, nil
}

// appliedScript reads applied revisions through the alias in one atomic
// step, so a switch between the two reads cannot mix generations.
var appliedScript = redis.NewScript(`
local gen = redis.call('GET', KEYS[1])
if not gen then return nil end
local h = ARGV[1] .. gen .. ':applied'
local out = {}
for i = 2, #ARGV do
  out[i-1] = redis.call('HGET', h, ARGV[i]) or false
end
return out
`)

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// Drop deletes every key of generation gen (in batches, with UNLINK, so
// Redis frees memory in the background). It never touches the alias.
func (n Namespace) Drop(ctx context.Context, rdb redis.UniversalClient, gen string) error {
	if gen == "" {
		return nil
	}
	var cursor uint64
	for {
		keys, next, err := rdb.Scan(ctx, cursor, escapeGlob(n.Prefix(gen))+"*", 1000).Result()
		if err != nil {
			return fmt.Errorf("drop %s%s: %w", n.Root, gen, err)
		}
		if len(keys) > 0 {
			if err := rdb.Unlink(ctx, keys...).Err(); err != nil {
				return fmt.Errorf("drop %s%s: %w", n.Root, gen, err)
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

func escapeGlob(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`, `]`, `\]`)
	return r.Replace(s)
}

// switchScript makes newGen live when it has caught up with the live one:
// every partition offset of the live generation is reached by newGen. It
// returns 1 when switched, 0 when newGen is still behind, and an error when
// the alias no longer names oldGen (another rebuild won).
var switchScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
local old, new = ARGV[2], ARGV[3]
if (cur or '') ~= old then return redis.error_reply('ALIASMOVED alias is ' .. tostring(cur) .. ', expected ' .. old) end
if cur then
  local olds = redis.call('HGETALL', ARGV[1] .. old .. ':offsets')
  local newo = ARGV[1] .. new .. ':offsets'
  for i = 1, #olds, 2 do
    local v = redis.call('HGET', newo, olds[i])
    if (not v) or tonumber(v) < tonumber(olds[i+1]) then return 0 end
  end
end
redis.call('SET', KEYS[1], new)
return 1
`)

// ErrAliasMoved is returned by Switch when the live generation is no
// longer the one the rebuild started from (a concurrent rebuild switched).
var ErrAliasMoved = errors.New("alias moved")

// Switch atomically makes newGen live if the alias still names oldGen
// ("" for none) and newGen's offsets have reached oldGen's on every
// partition, so the switch loses no event the live generation had applied.
// It reports false when newGen is still behind.
func (n Namespace) Switch(ctx context.Context, rdb redis.UniversalClient, oldGen, newGen string) (bool, error) {
	r, err := switchScript.Run(ctx, rdb, []string{n.AliasKey()}, n.Root, oldGen, newGen).Int()
	if err != nil {
		if strings.HasPrefix(err.Error(), "ALIASMOVED") {
			return false, fmt.Errorf("switch %s to %s: %w: %v", n.Root, newGen, ErrAliasMoved, err)
		}
		return false, fmt.Errorf("switch %s to %s: %w", n.Root, newGen, err)
	}
	return r == 1, nil
}

// Create makes gen live when the model has no live generation yet
// (SETNX); it reports whether it did, and returns the live generation.
func (n Namespace) Create(ctx context.Context, rdb redis.UniversalClient, gen string) (string, error) {
	ok, err := rdb.SetNX(ctx, n.AliasKey(), gen, 0).Result()
	if err != nil {
		return "", fmt.Errorf("create %s: %w", n.Root, err)
	}
	if ok {
		return gen, nil
	}
	return n.Live(ctx, rdb)
}
