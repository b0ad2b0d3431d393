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
// memory grows with the number of streams and orders in the history. Each
// stream, order, product and customer also remembers where its keys'
// writes are in the current batch, so folding an event builds no key name
// and looks up no key but its entities. A Folder is not safe for
// concurrent use: one goroutine folds, and a taken batch may be written by
// another.
type Folder struct {
	ns        readmodel.Namespace
	gen       string
	prefix    string
	streams   map[string]*streamState
	orders    map[string]*orderState
	products  map[string]*keyRef // p:<sku>
	customers map[string]*customerState
	// The model's single keys: products, s, s:rev, s:qty.
	productSet, stats, salesRev, salesQty keyRef
	newest                                int64
	// ep numbers the batch being folded; a keyRef of another is stale.
	ep    uint32
	b     *FoldBatch
	spare *FoldBatch // a written batch to reuse
}

// keyRef is where a key's writes are in batch ep.
type keyRef struct {
	ep  uint32
	idx int32
}

// streamState is a stream's applied revision, and where it is in the
// batch's applied revisions.
type streamState struct {
	rev uint64
	ref keyRef
}

// orderState is what the status precedence, the customer lists and the
// sales need to know about an order (apply.lua's o:<id> fields), and its
// keys.
type orderState struct {
	cust, cm, lenc string
	hasLenc, lc    bool
	total          string
	hasTotal       bool
	st, ix, pst    int8 // ranks; 0: unset
	hash, timeline keyRef
}

// customerState is a customer's keys.
type customerState struct {
	wallet, tx, orders keyRef // w:<id>, w:<id>:tx, c:<id>:o
	byStatus           [len(statusName)]keyRef
}

// Status and payment-status ranks (apply.lua's).
const (
	pending, reserved, confirmed, cancelled = 1, 2, 3, 4
	failed, captured, refunded              = 1, 2, 3
)

var (
	statusName  = [...]string{"", "PENDING", "RESERVED", "CONFIRMED", "CANCELLED"}
	paymentName = [...]string{"", "failed", "captured", "refunded"}
)

// FoldBatch is the writes of the events folded since the last Take.
type FoldBatch struct {
	keys    []keyWrites
	applied []streamRev
	offsets []partitionOffset
	events  int64
	newest  int64
	// Events is how many events were folded into the batch (applied or
	// duplicates).
	Events int
}

type streamRev struct {
	stream string
	rev    uint64
}

type partitionOffset struct {
	topic     string
	partition int32
	next      int64
}

// keyWrites is what a batch writes to one key: the HSET and ZADD
// arguments as they are sent, the counters summed. A sorted set is either
// only added to (zadd: the timelines, wallets, products and a customer's
// orders) or added to and removed from (zmark, last wins: a customer's
// orders by status).
type keyWrites struct {
	key   string
	hset  []any // "hset", key, field, value, ...
	hincr map[string]int64
	zadd  []any // "zadd", key, "0", member, ...
	zmark map[string]bool
	zincr map[string]float64
}

// Folder returns a Folder writing generation gen, which must be new and
// empty.
func (m *Model) Folder(gen string) *Folder {
	return &Folder{ns: m.ns, gen: gen, prefix: m.ns.Prefix(gen), streams: map[string]*streamState{},
		orders: map[string]*orderState{}, products: map[string]*keyRef{}, customers: map[string]*customerState{},
		ep: 1, b: &FoldBatch{}}
}

// Batch returns the batch being folded (what Take would return).
func (f *Folder) Batch() *FoldBatch { return f.b }

// Take returns the batch folded so far and starts a new one.
func (f *Folder) Take() *FoldBatch {
	b := f.b
	if f.spare != nil {
		f.b, f.spare = f.spare, nil
	} else {
		f.b = &FoldBatch{keys: make([]keyWrites, 0, len(b.keys)), applied: make([]streamRev, 0, len(b.applied)),
			offsets: make([]partitionOffset, 0, len(b.offsets))}
	}
	f.ep++
	return b
}

// Reuse hands back a taken batch whose writes have been sent (its
// commands are done with): the next Take reuses its memory.
func (f *Folder) Reuse(b *FoldBatch) {
	b.keys = b.keys[:0]
	b.applied = b.applied[:0]
	b.offsets = b.offsets[:0]
	b.events, b.newest, b.Events = 0, 0, 0
	f.spare = b
}

// Fold folds one event (from Encode) into the current batch: skipped as a
// duplicate when its revision is at or below its stream's applied one,
// otherwise decided as apply.lua would; its partition's next offset moves
// forward either way.
func (f *Folder) Fold(ev readmodel.Event) error {
	b := f.b
	b.Events++
	if ev.Topic != "" {
		b.offset(ev.Topic, ev.Partition, ev.Offset+1)
	}
	st := f.streams[ev.Stream]
	if st != nil && st.rev >= ev.Revision {
		return nil
	}
	if err := f.apply(ev.Args); err != nil {
		return fmt.Errorf("fold %s@%d: %w", ev.Stream, ev.Revision, err)
	}
	if st == nil {
		st = &streamState{}
		f.streams[ev.Stream] = st
	}
	st.rev = ev.Revision
	if st.ref.ep == f.ep {
		b.applied[st.ref.idx].rev = ev.Revision
	} else {
		st.ref = keyRef{ep: f.ep, idx: int32(len(b.applied))}
		b.applied = append(b.applied, streamRev{stream: ev.Stream, rev: ev.Revision})
	}
	b.events++
	if at := ev.OccurredAt.UnixMilli(); at > f.newest {
		f.newest = at
		b.newest = at
	}
	return nil
}

// offset moves a partition's next offset forward.
func (b *FoldBatch) offset(topic string, partition int32, next int64) {
	for i := range b.offsets {
		if o := &b.offsets[i]; o.partition == partition && o.topic == topic {
			o.next = max(o.next, next)
			return
		}
	}
	b.offsets = append(b.offsets, partitionOffset{topic: topic, partition: partition, next: next})
}

// Queue queues the batch's writes on pipe. The applied revisions, offsets
// and bookkeeping go with the data, as in apply.lua (the pipeline need not
// be a transaction: a failed rebuild drops its generation).
func (b *FoldBatch) Queue(ctx context.Context, pipe redis.Pipeliner, ns readmodel.Namespace, gen string) {
	for i := range b.keys {
		w := &b.keys[i]
		if len(w.hset) > 2 {
			_ = pipe.Process(ctx, redis.NewIntCmd(ctx, w.hset...))
		}
		for f, n := range w.hincr {
			pipe.HIncrBy(ctx, w.key, f, n)
		}
		if len(w.zadd) > 2 {
			_ = pipe.Process(ctx, redis.NewIntCmd(ctx, w.zadd...))
		}
		if len(w.zmark) > 0 {
			add, rem := []any{"zadd", w.key}, []any{"zrem", w.key}
			for m, present := range w.zmark {
				if present {
					add = append(add, "0", m)
				} else {
					rem = append(rem, m)
				}
			}
			if len(add) > 2 {
				_ = pipe.Process(ctx, redis.NewIntCmd(ctx, add...))
			}
			if len(rem) > 2 {
				_ = pipe.Process(ctx, redis.NewIntCmd(ctx, rem...))
			}
		}
		for m, n := range w.zincr {
			pipe.ZIncrBy(ctx, w.key, n, m)
		}
	}
	if len(b.applied) > 0 {
		args := make([]any, 0, 2+2*len(b.applied))
		args = append(args, "hset", ns.AppliedKey(gen))
		for _, a := range b.applied {
			args = append(args, a.stream, a.rev)
		}
		_ = pipe.Process(ctx, redis.NewIntCmd(ctx, args...))
	}
	if len(b.offsets) > 0 {
		args := make([]any, 0, 2+2*len(b.offsets))
		args = append(args, "hset", ns.OffsetsKey(gen))
		for _, o := range b.offsets {
			args = append(args, readmodel.OffsetField(o.topic, o.partition), o.next)
		}
		_ = pipe.Process(ctx, redis.NewIntCmd(ctx, args...))
	}
	if b.events > 0 {
		pipe.HIncrBy(ctx, ns.MetaKey(gen), "events", b.events)
	}
	if b.newest > 0 {
		pipe.HSet(ctx, ns.MetaKey(gen), "newest", b.newest)
	}
}

// writes returns the writes of the key named prefix+parts in the current
// batch, through its ref. The pointer is good until the next call.
func (f *Folder) writes(r *keyRef, parts ...string) *keyWrites {
	if r.ep != f.ep {
		var name strings.Builder
		n := len(f.prefix)
		for _, p := range parts {
			n += len(p)
		}
		name.Grow(n)
		name.WriteString(f.prefix)
		for _, p := range parts {
			name.WriteString(p)
		}
		*r = keyRef{ep: f.ep, idx: int32(len(f.b.keys))}
		if n := len(f.b.keys); n < cap(f.b.keys) {
			// A reused batch: keep the slices and maps of the key that
			// was here, emptied.
			f.b.keys = f.b.keys[:n+1]
			f.b.keys[n].reset(name.String())
		} else {
			f.b.keys = append(f.b.keys, keyWrites{key: name.String()})
		}
	}
	return &f.b.keys[r.idx]
}

// reset empties w for key, keeping its memory.
func (w *keyWrites) reset(key string) {
	w.key = key
	clear(w.hset)
	clear(w.zadd)
	w.hset, w.zadd = w.hset[:0], w.zadd[:0]
	clear(w.hincr)
	clear(w.zmark)
	clear(w.zincr)
}

// set sets hash fields: field, value, ... (a field set again takes the
// new value).
func (w *keyWrites) set(kv ...any) {
	if len(w.hset) == 0 {
		if cap(w.hset) == 0 {
			w.hset = make([]any, 0, 2+len(kv)+6)
		}
		w.hset = append(w.hset, "hset", w.key)
	}
next:
	for i := 0; i+1 < len(kv); i += 2 {
		for j := 2; j < len(w.hset); j += 2 {
			if w.hset[j] == kv[i] {
				w.hset[j+1] = kv[i+1]
				continue next
			}
		}
		w.hset = append(w.hset, kv[i], kv[i+1])
	}
}

func (w *keyWrites) incr(field string, n int64) {
	if w.hincr == nil {
		w.hincr = map[string]int64{}
	}
	w.hincr[field] += n
}

// add adds a member (score 0) to a set only ever added to.
func (w *keyWrites) add(member string) {
	if len(w.zadd) == 0 {
		if cap(w.zadd) == 0 {
			w.zadd = make([]any, 0, 8)
		}
		w.zadd = append(w.zadd, "zadd", w.key)
	}
	w.zadd = append(w.zadd, "0", member)
}

// mark adds (score 0) or removes a member.
func (w *keyWrites) mark(member string, present bool) {
	if w.zmark == nil {
		w.zmark = map[string]bool{}
	}
	w.zmark[member] = present
}

func (w *keyWrites) zincrBy(member string, n float64) {
	if w.zincr == nil {
		w.zincr = map[string]float64{}
	}
	w.zincr[member] += n
}

func (f *Folder) order(oid string) *orderState {
	o := f.orders[oid]
	if o == nil {
		o = &orderState{}
		f.orders[oid] = o
	}
	return o
}

func (f *Folder) customer(id string) *customerState {
	c := f.customers[id]
	if c == nil {
		c = &customerState{}
		f.customers[id] = c
	}
	return c
}

// product returns the writes of p:<sku>.
func (f *Folder) product(sku string) *keyWrites {
	r := f.products[sku]
	if r == nil {
		r = &keyRef{}
		f.products[sku] = r
	}
	return f.writes(r, "p:", sku)
}

// orderHash returns the writes of o:<id>.
func (f *Folder) orderHash(oid string, o *orderState) *keyWrites {
	return f.writes(&o.hash, "o:", oid)
}

// apply mirrors apply.lua's apply for one event's arguments.
func (f *Folder) apply(a []any) error {
	if len(a) < 2 {
		return fmt.Errorf("%w: no arguments", ErrBadEvent)
	}
	kind, _ := a[0].(string)
	switch kind {
	case "PL":
		if len(a) < 5 {
			return fmt.Errorf("%w: short %s", ErrBadEvent, kind)
		}
		sku := argStr(a[1])
		w := f.product(sku)
		w.set("sku", a[1], "name", a[2], "price", a[3], "cur", a[4])
		w.incr("avail", 0)
		f.writes(&f.productSet, "products").add(sku)
	case "PR":
		if len(a) < 4 {
			return fmt.Errorf("%w: short %s", ErrBadEvent, kind)
		}
		f.product(argStr(a[1])).set("price", a[2], "cur", a[3])
	case "SR":
		if len(a) < 3 {
			return fmt.Errorf("%w: short %s", ErrBadEvent, kind)
		}
		n, err := integer(a[2])
		if err != nil {
			return err
		}
		f.product(argStr(a[1])).incr("avail", n)
	case "FD":
		if len(a) < 4 {
			return fmt.Errorf("%w: short %s", ErrBadEvent, kind)
		}
		f.wallet(argStr(a[1]), argStr(a[2]), a[3])
	default:
		oid := argStr(a[1])
		if len(a) < 3 {
			return fmt.Errorf("%w: %s lacks argument %d", ErrBadEvent, kind, 2)
		}
		o := f.order(oid)
		f.writes(&o.timeline, "o:", oid, ":tl").add(argStr(a[2]))
		return f.orderEvent(kind, oid, o, a)
	}
	return nil
}

func (f *Folder) orderEvent(kind, oid string, o *orderState, a []any) error {
	if len(a) < orderArgs(kind) {
		return fmt.Errorf("%w: short %s", ErrBadEvent, kind)
	}
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
			f.product(argStr(a[j])).incr("avail", sign*q)
		}
		if kind == "SV" {
			f.setStatus(oid, o, reserved)
		}
	case "OP":
		f.orderHash(oid, o).set("cust", a[3], "cm", a[4], "total", a[5], "cur", a[6], "method", a[7], "lines", a[8],
			"lenc", a[9], "placedAt", a[10])
		o.cust, o.cm, o.total, o.hasTotal = argStr(a[3]), argStr(a[4]), argStr(a[5]), true
		if !o.lc {
			o.lenc, o.hasLenc = argStr(a[9]), true
		}
		if !f.setStatus(oid, o, pending) {
			f.settle(oid, o)
		}
	case "OC":
		f.orderHash(oid, o).set("cust", a[3], "total", a[4])
		o.cust, o.total, o.hasTotal = argStr(a[3]), argStr(a[4]), true
		f.setStatus(oid, o, confirmed)
	case "OX":
		f.orderHash(oid, o).set("cust", a[3], "reason", a[4])
		o.cust = argStr(a[3])
		f.setStatus(oid, o, cancelled)
	case "PC":
		f.setPayment(oid, o, captured, a[4], true)
	case "PF":
		f.setPayment(oid, o, failed, nil, false)
	case "PX":
		f.setPayment(oid, o, refunded, nil, false)
	case "WD", "WC":
		f.wallet(argStr(a[3]), argStr(a[4]), a[5])
	}
	// SC (stock committed) and SF (reservation failed) only add to the timeline.
	return nil
}

func (f *Folder) wallet(cust, tx string, bal any) {
	c := f.customer(cust)
	f.writes(&c.wallet, "w:", cust).set("bal", bal)
	f.writes(&c.tx, "w:", cust, ":tx").add(tx)
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
func (f *Folder) setStatus(oid string, o *orderState, r int8) bool {
	if o.st != 0 && (o.st >= confirmed || o.st >= r) {
		return false
	}
	o.st = r
	f.orderHash(oid, o).set("st", statusName[r])
	switch r {
	case confirmed:
		total := int64(0)
		if o.hasTotal {
			total, _ = strconv.ParseInt(o.total, 10, 64)
		}
		s := f.writes(&f.stats, "s")
		s.incr("revenue", total)
		s.incr("confirmed", 1)
	case cancelled:
		f.writes(&f.stats, "s").incr("cancelled", 1)
	}
	f.settle(oid, o)
	return true
}

// settle mirrors apply.lua's settle: the order in its customer's lists
// under its current status, and a confirmed order's lines in the sales.
func (f *Folder) settle(oid string, o *orderState) {
	if o.cust != "" && o.cm != "" && o.st != 0 && o.ix != o.st {
		c := f.customer(o.cust)
		if o.ix != 0 {
			f.writes(&c.byStatus[o.ix], "c:", o.cust, ":o:", statusName[o.ix]).mark(o.cm, false)
		} else {
			f.writes(&c.orders, "c:", o.cust, ":o").add(o.cm)
		}
		f.writes(&c.byStatus[o.st], "c:", o.cust, ":o:", statusName[o.st]).mark(o.cm, true)
		o.ix = o.st
		f.orderHash(oid, o).set("ix", statusName[o.st])
	}
	if o.st == confirmed && o.hasLenc && !o.lc {
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
			f.writes(&f.salesRev, "s:rev").zincrBy(parts[0], float64(q*pr))
			f.writes(&f.salesQty, "s:qty").incr(parts[0], q)
		}
		o.lc, o.lenc = true, ""
		f.orderHash(oid, o).set("lc", "1")
	}
}

// setPayment mirrors apply.lua's setPayment: the payment status only moves
// up (failed < captured < refunded); a capture always records its method.
func (f *Folder) setPayment(oid string, o *orderState, r int8, method any, hasMethod bool) {
	h := f.orderHash(oid, o)
	if o.pst == 0 || o.pst < r {
		o.pst = r
		h.set("pst", paymentName[r])
	}
	if hasMethod {
		h.set("pmethod", method)
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
