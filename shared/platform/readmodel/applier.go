package readmodel

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Event is one integration event to apply: where it comes from (stream and
// revision for deduplication, topic/partition/offset for the stored
// position) and the model-specific arguments its Lua body reads.
type Event struct {
	Stream     string
	Revision   uint64
	Topic      string // "" when the event does not come from Kafka
	Partition  int32
	Offset     int64
	OccurredAt time.Time
	// Args are strings or integers passed to the body's apply function.
	Args []any
}

// Applier applies events to a read model exactly once, in one Lua script
// per batch: for each event, if its revision is above the stream's stored
// one, the model body runs and the revision is stored; in every case the
// partition's next offset moves forward. Write, revision and offset change
// in one atomic step, so a redelivered or replayed event changes nothing
// and a crash leaves nothing half-applied. It is safe for concurrent use.
//
// The body is Lua defining
//
//	local function apply(ns, a, i, n)
//
// which reads its arguments a[i] .. a[i+n-1] and writes keys under the
// prefix ns (the generation's prefix). It must not raise errors after its
// first write (Redis does not roll a script back): validate in Go.
// Revisions above 2^53 lose precision in Lua numbers.
type Applier struct {
	ns     Namespace
	script *redis.Script
}

const applyPrelude = `
local root, gen = ARGV[1], ARGV[2]
if gen == '' then
  gen = redis.call('GET', KEYS[1])
  if not gen then return redis.error_reply('NOMODEL no live generation') end
end
local ns = root .. gen .. ':'
`

const applyLoop = `
local appliedKey, offsetsKey, metaKey = ns .. 'applied', ns .. 'offsets', ns .. 'meta'
local done = 0
local newest = 0
local offs = {}
local i = 3
while i <= #ARGV do
  local stream, rev, of, off, at, n = ARGV[i], tonumber(ARGV[i+1]), ARGV[i+2], tonumber(ARGV[i+3]), tonumber(ARGV[i+4]), tonumber(ARGV[i+5])
  local cur = redis.call('HGET', appliedKey, stream)
  if (not cur) or tonumber(cur) < rev then
    apply(ns, ARGV, i + 6, n)
    redis.call('HSET', appliedKey, stream, ARGV[i+1])
    done = done + 1
    if at > newest then newest = at end
  end
  if of ~= '' and ((not offs[of]) or offs[of] < off) then offs[of] = off end
  i = i + 6 + n
end
-- One offset write per partition and batch, never moving backwards.
for of, off in pairs(offs) do
  local c = redis.call('HGET', offsetsKey, of)
  if (not c) or tonumber(c) < off then redis.call('HSET', offsetsKey, of, string.format('%d', off)) end
end
if done > 0 then
  redis.call('HINCRBY', metaKey, 'events', done)
  local nw = tonumber(redis.call('HGET', metaKey, 'newest') or '0')
  if newest > nw then redis.call('HSET', metaKey, 'newest', newest) end
end
return done
`

// NewApplier returns an Applier of ns running body (see Applier).
func NewApplier(ns Namespace, body string) *Applier {
	return &Applier{ns: ns, script: redis.NewScript(applyPrelude + body + applyLoop)}
}

// Namespace returns the applier's namespace.
func (a *Applier) Namespace() Namespace { return a.ns }

func (a *Applier) argv(gen string, evs []Event) []any {
	n := 2
	for _, e := range evs {
		n += 6 + len(e.Args)
	}
	argv := make([]any, 0, n)
	argv = append(argv, a.ns.Root, gen)
	for _, e := range evs {
		of := ""
		if e.Topic != "" {
			of = OffsetField(e.Topic, e.Partition)
		}
		argv = append(argv, e.Stream, strconv.FormatUint(e.Revision, 10), of, strconv.FormatInt(e.Offset+1, 10),
			strconv.FormatInt(e.OccurredAt.UnixMilli(), 10), len(e.Args))
		argv = append(argv, e.Args...)
	}
	return argv
}

// Apply applies evs, in order, to generation gen ("" for the live one) in
// one atomic step and returns how many were applied (the rest were
// duplicates). With gen "" and no live generation it returns ErrNoModel
// and changes nothing.
func (a *Applier) Apply(ctx context.Context, rdb redis.Scripter, gen string, evs ...Event) (int, error) {
	if len(evs) == 0 {
		return 0, nil
	}
	n, err := a.script.Run(ctx, rdb, []string{a.ns.AliasKey()}, a.argv(gen, evs)...).Int()
	if err != nil {
		return 0, a.wrap(err)
	}
	return n, nil
}

// ApplyPipelined queues Apply on pipe (EVALSHA: call Load once before, and
// again after a NOSCRIPT error) and returns its command; read the result
// with ApplyResult after Exec.
func (a *Applier) ApplyPipelined(ctx context.Context, pipe redis.Pipeliner, gen string, evs ...Event) *redis.Cmd {
	return a.script.EvalSha(ctx, pipe, []string{a.ns.AliasKey()}, a.argv(gen, evs)...)
}

// Load loads the script into Redis, for ApplyPipelined.
func (a *Applier) Load(ctx context.Context, rdb redis.Scripter) error {
	if err := a.script.Load(ctx, rdb).Err(); err != nil {
		return fmt.Errorf("load apply script of %s: %w", a.ns.Root, err)
	}
	return nil
}

// ApplyResult returns the applied count of a pipelined apply.
func (a *Applier) ApplyResult(cmd *redis.Cmd) (int, error) {
	n, err := cmd.Int()
	if err != nil {
		return 0, a.wrap(err)
	}
	return n, nil
}

func (a *Applier) wrap(err error) error {
	if strings.HasPrefix(err.Error(), "NOMODEL") {
		return fmt.Errorf("apply to %s: %w", a.ns.Root, ErrNoModel)
	}
	return fmt.Errorf("apply to %s: %w", a.ns.Root, err)
}

// IsNoScript reports a NOSCRIPT error (the script cache was flushed).
func IsNoScript(err error) bool {
	return err != nil && strings.Contains(err.Error(), "NOSCRIPT")
}
