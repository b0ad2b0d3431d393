package model

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/troupe-dev/troupe/shared/platform/readmodel"
)

// Folder builds a generation that nobody else writes yet (a rebuild's) by
// deciding in Go what apply.lua decides in Redis, and folding a batch of
// events into one command per key: one HSET per hash with every field the
// batch set, one ZADD and one ZREM per sorted set, one HINCRBY or ZINCRBY
// per counter. The result is the state apply.lua produces for the same
// events, applied exactly once per stream revision (the checksums are
// equal), so the live subscriber continues on it with apply.lua once the
// generation is switched live.
//
// It keeps in memory what the decisions read (each stream's applied
// revision; each order's status, indexed status, customer, list member,
// total, payment status, and its lines until they count in the sales), so
// memory grows with the number of streams and orders in the history. A
// Folder is not safe for concurrent use: one goroutine folds, and a taken
// batch may be written by another.
type Folder struct {
	ns      readmodel.Namespace
	gen     string
	prefix  string
	applied map[string]uint64
	orders  map[string]*orderState
	newest  int64
	b       *FoldBatch
}

// orderState is what the status precedence, the customer lists and the
// sales need to know about an order (apply.lua's o:<id> fields).
type orderState struct {
	cust, cm, lenc string
	hasLenc, lc    bool
	total          string
	hasTotal       bool
	st, ix, pst    int8 // ranks; 0: unset
}

var (
	statusRank  = map[string]int8{"PENDING": 1, "RESERVED": 2, "CONFIRMED": 3, "CANCELLED": 4}
	statusName  = [...]string{"", "PENDING", "RESERVED", "CONFIRMED", "CANCELLED"}
	paymentRank = map[string]int8{"failed": 1, "captured": 2, "refunded": 3}
)

// FoldBatch is the writes of the events folded since the last Take.
type FoldBatch struct {
	hset    map[string]map[string]any
	hincr   map[string]map[string]int64
	zset    map[string]map[string]bool // member -> present (ZADD score 0) or removed
	zincr   map[string]map[string]float64
	applied map[string]any
	offsets map[string]int64
	events  int64
	newest  int64
	// Events is how many events were folded into the batch (applied or
	// duplicates).
	Events int
}

func newFoldBatch() *FoldBatch {
	return &FoldBatch{hset: map[string]map[string]any{}, hincr: map[string]map[string]int64{},
		zset: map[string]map[string]bool{}, zincr: map[string]map[string]float64{},
		applied: map[string]any{}, offsets: map[string]int64{}}
}

// Folder returns a Folder writing generation gen, which must be new and
// empty.
func (m *Model) Folder(gen string) *Folder {
	return &Folder{ns: m.ns, gen: gen, prefix: m.ns.Prefix(gen), applied: map[string]uint64{},
		orders: map[string]*orderState{}, b: newFoldBatch()}
}

// Batch returns the batch being folded (what Take would return).
func (f *Folder) Batch() *FoldBatch { return f.b }

// Take returns the batch folded so far and starts a new one.
func (f *Folder) Take() *FoldBatch {
	b := f.b
	f.b = newFoldBatch()
	return b
}

// Fold folds one event (from Encode) into the current batch: skipped as a
// duplicate when its revision is at or below its stream's applied one,
// otherwise decided as apply.lua would; its partition's next offset moves
// forward either way.
func (f *Folder) Fold(ev readmodel.Event) error {
	b := f.b
	b.Events++
	if ev.Topic != "" {
		of := readmodel.OffsetField(ev.Topic, ev.Partition)
		if next := ev.Offset + 1; next > b.offsets[of] {
			b.offsets[of] = next
		}
	}
	if cur, ok := f.applied[ev.Stream]; ok && cur >= ev.Revision {
		return nil
	}
	if err := f.apply(ev.Args); err != nil {
		return fmt.Errorf("fold %s@%d: %w", ev.Stream, ev.Revision, err)
	}
	f.applied[ev.Stream] = ev.Revision
	b.applied[ev.Stream] = strconv.FormatUint(ev.Revision, 10)
	b.events++
	if at := ev.OccurredAt.UnixMilli(); at > f.newest {
		f.newest = at
		b.newest = at
	}
	return nil
}

// Queue queues the batch's writes on pipe. The applied revisions, offsets
// and bookkeeping go with the data, as in apply.lua (the pipeline need not
// be a transaction: a failed rebuild drops its generation).
func (b *FoldBatch) Queue(ctx context.Context, pipe redis.Pipeliner, ns readmodel.Namespace, gen string) {
	for k, fields := range b.hset {
		args := make([]any, 0, 2*len(fields))
		for f, v := range fields {
			args = append(args, f, v)
		}
		pipe.HSet(ctx, k, args...)
	}
	for k, fields := range b.hincr {
		for f, n := range fields {
			pipe.HIncrBy(ctx, k, f, n)
		}
	}
	for k, members := range b.zset {
		var add []redis.Z
		var rem []any
		for m, present := range members {
			if present {
				add = append(add, redis.Z{Member: m})
			} else {
				rem = append(rem, m)
			}
		}
		if len(add) > 0 {
			pipe.ZAdd(ctx, k, add...)
		}
		if len(rem) > 0 {
			pipe.ZRem(ctx, k, rem...)
		}
	}
	for k, members := range b.zincr {
		for m, n := range members {
			pipe.ZIncrBy(ctx, k, n, m)
		}
	}
	if len(b.applied) > 0 {
		pipe.HSet(ctx, ns.AppliedKey(gen), b.applied)
	}
	if len(b.offsets) > 0 {
		offs := make(map[string]any, len(b.offsets))
		for of, next := range b.offsets {
			offs[of] = next
		}
		pipe.HSet(ctx, ns.OffsetsKey(gen), offs)
	}
	if b.events > 0 {
		pipe.HIncrBy(ctx, ns.MetaKey(gen), "events", b.events)
	}
	if b.newest > 0 {
		pipe.HSet(ctx, ns.MetaKey(gen), "newest", b.newest)
	}
}

func (f *Folder) hset(key string, kv ...any) {
	h := f.b.hset[key]
	if h == nil {
		h = map[string]any{}
		f.b.hset[key] = h
	}
	for i := 0; i+1 < len(kv); i += 2 {
		h[kv[i].(string)] = kv[i+1]
	}
}

func (f *Folder) hincr(key, field string, n int64) {
	h := f.b.hincr[key]
	if h == nil {
		h = map[string]int64{}
		f.b.hincr[key] = h
	}
	h[field] += n
}

func (f *Folder) zadd(key, member string) { f.zmark(key, member, true) }
func (f *Folder) zrem(key, member string) { f.zmark(key, member, false) }

func (f *Folder) zmark(key, member string, present bool) {
	z := f.b.zset[key]
	if z == nil {
		z = map[string]bool{}
		f.b.zset[key] = z
	}
	z[member] = present
}

func (f *Folder) zincr(key, member string, n float64) {
	z := f.b.zincr[key]
	if z == nil {
		z = map[string]float64{}
		f.b.zincr[key] = z
	}
	z[member] += n
}

func (f *Folder) order(oid string) *orderState {
	o := f.orders[oid]
	if o == nil {
		o = &orderState{}
		f.orders[oid] = o
	}
	return o
}

// apply mirrors apply.lua's apply for one event's arguments.
func (f *Folder) apply(a []any) error {
	if len(a) < 2 {
		return fmt.Errorf("%w: no arguments", ErrBadEvent)
	}
	kind, _ := a[0].(string)
	p := f.prefix
	arg := func(i int) (string, error) {
		if i >= len(a) {
			return "", fmt.Errorf("%w: %s lacks argument %d", ErrBadEvent, kind, i)
		}
		return argStr(a[i]), nil
	}
	switch kind {
	case "PL":
		if len(a) < 5 {
			return fmt.Errorf("%w: short %s", ErrBadEvent, kind)
		}
		sku := argStr(a[1])
		f.hset(p+"p:"+sku, "sku", a[1], "name", a[2], "price", a[3], "cur", a[4])
		f.hincr(p+"p:"+sku, "avail", 0)
		f.zadd(p+"products", sku)
	case "PR":
		if len(a) < 4 {
			return fmt.Errorf("%w: short %s", ErrBadEvent, kind)
		}
		f.hset(p+"p:"+argStr(a[1]), "price", a[2], "cur", a[3])
	case "SR":
		if len(a) < 3 {
			return fmt.Errorf("%w: short %s", ErrBadEvent, kind)
		}
		n, err := integer(a[2])
		if err != nil {
			return err
		}
		f.hincr(p+"p:"+argStr(a[1]), "avail", n)
	case "FD":
		if len(a) < 4 {
			return fmt.Errorf("%w: short %s", ErrBadEvent, kind)
		}
		f.wallet(argStr(a[1]), argStr(a[2]), a[3])
	default:
		oid := argStr(a[1])
		tl, err := arg(2)
		if err != nil {
			return err
		}
		f.zadd(p+"o:"+oid+":tl", tl)
		return f.orderEvent(kind, oid, a)
	}
	return nil
}

func (f *Folder) orderEvent(kind, oid string, a []any) error {
	if len(a) < orderArgs(kind) {
		return fmt.Errorf("%w: short %s", ErrBadEvent, kind)
	}
	okey := f.prefix + "o:" + oid
	switch kind {
	case "SV", "SL":
		n, err := integer(a[3])
		if err != nil {
			return err
		}
		sign := int64(1)
		if kind == "SV" {
			sign = -1
		}
		if len(a) < 4+2*int(n) {
			return fmt.Errorf("%w: short %s lines", ErrBadEvent, kind)
		}
		for j := 4; j < 4+2*int(n); j += 2 {
			q, err := integer(a[j+1])
			if err != nil {
				return err
			}
			f.hincr(f.prefix+"p:"+argStr(a[j]), "avail", sign*q)
		}
		if kind == "SV" {
			f.setStatus(oid, "RESERVED")
		}
	case "OP":
		o := f.order(oid)
		f.hset(okey, "cust", a[3], "cm", a[4], "total", a[5], "cur", a[6], "method", a[7], "lines", a[8],
			"lenc", a[9], "placedAt", a[10])
		o.cust, o.cm, o.total, o.hasTotal = argStr(a[3]), argStr(a[4]), argStr(a[5]), true
		if !o.lc {
			o.lenc, o.hasLenc = argStr(a[9]), true
		}
		if !f.setStatus(oid, "PENDING") {
			f.settle(oid)
		}
	case "OC":
		o := f.order(oid)
		f.hset(okey, "cust", a[3], "total", a[4])
		o.cust, o.total, o.hasTotal = argStr(a[3]), argStr(a[4]), true
		f.setStatus(oid, "CONFIRMED")
	case "OX":
		o := f.order(oid)
		f.hset(okey, "cust", a[3], "reason", a[4])
		o.cust = argStr(a[3])
		f.setStatus(oid, "CANCELLED")
	case "PC":
		f.setPayment(oid, "captured", a[4], true)
	case "PF":
		f.setPayment(oid, "failed", nil, false)
	case "PX":
		f.setPayment(oid, "refunded", nil, false)
	case "WD", "WC":
		f.wallet(argStr(a[3]), argStr(a[4]), a[5])
	}
	// SC (stock committed) and SF (reservation failed) only add to the timeline.
	return nil
}

func (f *Folder) wallet(cust, tx string, bal any) {
	f.hset(f.prefix+"w:"+cust, "bal", bal)
	f.zadd(f.prefix+"w:"+cust+":tx", tx)
}

// orderArgs is how many arguments an order event of kind has at least.
func orderArgs(kind string) int {
	switch kind {
	case "SV", "SL":
		return 4
	case "OP":
		return 11
	case "OC", "OX", "PC":
		return 5
	case "WD", "WC":
		return 6
	}
	return 3
}

// setStatus mirrors apply.lua's setStatus: CONFIRMED and CANCELLED are
// final, otherwise a higher rank wins; it settles the order when it
// changed and reports whether it did.
func (f *Folder) setStatus(oid, st string) bool {
	o := f.order(oid)
	r := statusRank[st]
	if o.st != 0 && (o.st >= 3 || o.st >= r) {
		return false
	}
	o.st = r
	okey := f.prefix + "o:" + oid
	f.hset(okey, "st", st)
	switch st {
	case "CONFIRMED":
		total := int64(0)
		if o.hasTotal {
			total, _ = strconv.ParseInt(o.total, 10, 64)
		}
		f.hincr(f.prefix+"s", "revenue", total)
		f.hincr(f.prefix+"s", "confirmed", 1)
	case "CANCELLED":
		f.hincr(f.prefix+"s", "cancelled", 1)
	}
	f.settle(oid)
	return true
}

// settle mirrors apply.lua's settle: the order in its customer's lists
// under its current status, and a confirmed order's lines in the sales.
func (f *Folder) settle(oid string) {
	o := f.order(oid)
	okey := f.prefix + "o:" + oid
	if o.cust != "" && o.cm != "" && o.st != 0 && o.ix != o.st {
		base := f.prefix + "c:" + o.cust + ":o"
		if o.ix != 0 {
			f.zrem(base+":"+statusName[o.ix], o.cm)
		} else {
			f.zadd(base, o.cm)
		}
		f.zadd(base+":"+statusName[o.st], o.cm)
		o.ix = o.st
		f.hset(okey, "ix", statusName[o.st])
	}
	if o.st == statusRank["CONFIRMED"] && o.hasLenc && !o.lc {
		for _, line := range strings.Split(o.lenc, ";") {
			parts := strings.Fields(line)
			if len(parts) != 3 {
				continue
			}
			q, err1 := strconv.ParseInt(parts[1], 10, 64)
			pr, err2 := strconv.ParseInt(parts[2], 10, 64)
			if err1 != nil || err2 != nil {
				continue
			}
			f.zincr(f.prefix+"s:rev", parts[0], float64(q*pr))
			f.hincr(f.prefix+"s:qty", parts[0], q)
		}
		o.lc, o.lenc = true, ""
		f.hset(okey, "lc", "1")
	}
}

// setPayment mirrors apply.lua's setPayment: the payment status only moves
// up (failed < captured < refunded); a capture always records its method.
func (f *Folder) setPayment(oid, pst string, method any, hasMethod bool) {
	o := f.order(oid)
	okey := f.prefix + "o:" + oid
	if r := paymentRank[pst]; o.pst == 0 || o.pst < r {
		o.pst = r
		f.hset(okey, "pst", pst)
	}
	if hasMethod {
		f.hset(okey, "pmethod", method)
	}
}

// argStr formats an argument as Redis receives it.
func argStr(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	}
	return fmt.Sprint(v)
}

func integer(v any) (int64, error) {
	switch x := v.(type) {
	case int:
		return int64(x), nil
	case int64:
		return x, nil
	case string:
		n, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%w: %q is not an integer", ErrBadEvent, x)
		}
		return n, nil
	}
	return 0, fmt.Errorf("%w: %T is not an integer", ErrBadEvent, v)
}
