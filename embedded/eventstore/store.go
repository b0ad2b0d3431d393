package eventstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	api "github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/cockroachdb/pebble/v2"
	"google.golang.org/protobuf/proto"
)

// Group commit limits: one Pebble batch (one fsync) carries at most this
// many requests or bytes.
const (
	maxGroupRequests = 1024
	maxGroupBytes    = 16 << 20
	// maxRememberedIDs bounds the event ids the writer keeps per stream to
	// recognise a retried append with expected revision "any"; retries with
	// an exact revision are checked against storage whatever their size.
	maxRememberedIDs = 32
	// writerCacheLimit bounds the writer's per-stream cache; past it the
	// cache is dropped and reloaded from Pebble on demand.
	writerCacheLimit = 100_000
)

// errStoreClosed answers writes that arrive after Close.
var errStoreClosed = errors.New("eventstore: store is closed")

// store owns the Pebble database, the single writer that orders every write,
// and the durable watermark readers and subscribers respect.
//
// Writes flow through one goroutine (writeLoop) that checks expected
// revisions against its cache, assigns positions and applies one Pebble batch
// per group of waiting requests without waiting for the fsync; a second
// goroutine (ackLoop) waits for each batch's fsync in order, advances the
// durable watermark, publishes the events to subscribers and answers the
// requests. Pebble syncs its WAL for several batches at once, so concurrent
// appenders share fsyncs and the writer never idles while a sync is running.
type store struct {
	db      *pebble.DB
	log     *slog.Logger
	reqs    chan *writeReq
	stop    chan struct{}
	stopped sync.Once
	done    chan struct{}
	hub     *hub

	durable atomic.Uint64 // every event at or below this position is fsynced
	failed  atomic.Pointer[error]

	// Owned by writeLoop.
	nextPos uint64
	cache   map[string]*wstream

	metaMu    sync.Mutex
	metaCache map[string]cachedMeta // durable metadata by stream, for readers

	index  streamIndex  // durable stream tails, for readers
	recent recentEvents // the latest durable events, for readers
}

type cachedMeta struct {
	pos  uint64
	meta streamMeta
}

// wstream is the writer's view of a stream, including writes not yet durable.
type wstream struct {
	lastRev    int64 // -1: no event (the tombstone excluded)
	tombstoned bool

	metaLoaded bool // meta and metaBody are valid (non-metadata streams only)
	meta       streamMeta
	metaBody   []byte

	// The last append, kept to answer an identical retry idempotently.
	lastIDs      [][16]byte
	lastFirstRev int64
	lastPos      uint64
}

type writeOp int

const (
	opAppend writeOp = iota
	opDelete
	opTombstone
)

type expectKind int

const (
	expectAny expectKind = iota
	expectNoStream
	expectExists
	expectExact
)

type expectation struct {
	kind expectKind
	rev  int64
}

// proposed is an event ready to store, encoded by the RPC handler so that the
// writer only appends revision and position.
type proposed struct {
	id     [16]byte
	typ    string
	data   []byte // kept for metadata streams
	header []byte
	body   []byte // RecordedEvent without stream_revision and positions
}

type writeReq struct {
	op     writeOp
	stream string
	expect expectation
	events []proposed
	size   int
	done   chan writeResult
}

type wrongVersion struct {
	current int64 // -1: no stream
	expect  expectation
}

type writeResult struct {
	err     error
	wev     *wrongVersion
	lastRev int64 // -1: no stream
	pos     uint64
	hasPos  bool
}

// liveEvent is a durable event handed to live subscriptions.
type liveEvent struct {
	pos     uint64
	rev     int64
	stream  string
	typ     string
	created int64
	proto   []byte
	// noMeta: the stream had no metadata event when this one was written.
	noMeta bool
}

type writeGroup struct {
	reqs    []*writeReq
	results []writeResult
	events  []*liveEvent
	batch   *pebble.Batch
	lastPos uint64
}

func openStore(dir string, cacheSize int64, log *slog.Logger, h *hub) (*store, error) {
	db, err := pebble.Open(dir, &pebble.Options{
		Logger:    quietLogger{log},
		CacheSize: cacheSize,
	})
	if err != nil {
		return nil, fmt.Errorf("open the store in %s (is another event store using it?): %w", dir, err)
	}
	s := &store{
		db:        db,
		log:       log,
		reqs:      make(chan *writeReq, maxGroupRequests),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
		hub:       h,
		cache:     map[string]*wstream{},
		metaCache: map[string]cachedMeta{},
	}
	last, err := s.lastPosition()
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	s.nextPos = last + 1
	s.durable.Store(last)
	h.setWatermark(last)
	ackq := make(chan *writeGroup, 64)
	go s.writeLoop(ackq)
	go s.ackLoop(ackq)
	return s, nil
}

// lastPosition finds the end of the $all log after a restart. Everything
// Pebble recovered from its WAL counts as durable from now on.
func (s *store) lastPosition() (uint64, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixEvent}, UpperBound: []byte{prefixEvent + 1}})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	if !it.Last() {
		return 0, it.Error()
	}
	return binary.BigEndian.Uint64(it.Key()[1:]), nil
}

// close stops the writer after the requests already queued and closes Pebble.
func (s *store) close() error {
	s.stopped.Do(func() { close(s.stop) })
	<-s.done
	return s.db.Close()
}

// submit hands a write to the writer and waits for its durable outcome.
func (s *store) submit(ctx context.Context, req *writeReq) (writeResult, error) {
	if errp := s.failed.Load(); errp != nil {
		return writeResult{}, *errp
	}
	req.done = make(chan writeResult, 1)
	select {
	case s.reqs <- req:
	case <-s.stop:
		return writeResult{}, errStoreClosed
	case <-ctx.Done():
		return writeResult{}, ctx.Err()
	}
	select {
	case r := <-req.done:
		return r, nil
	case <-ctx.Done():
		return writeResult{}, ctx.Err()
	}
}

func (s *store) writeLoop(ackq chan<- *writeGroup) {
	defer close(ackq)
	for {
		var first *writeReq
		select {
		case first = <-s.reqs:
		case <-s.stop:
			// Answer what is still queued so no caller waits forever.
			for {
				select {
				case r := <-s.reqs:
					r.done <- writeResult{err: errStoreClosed}
				default:
					return
				}
			}
		}
		g := &writeGroup{reqs: []*writeReq{first}}
		size := first.size
	gather:
		for len(g.reqs) < maxGroupRequests && size < maxGroupBytes {
			select {
			case r := <-s.reqs:
				g.reqs = append(g.reqs, r)
				size += r.size
			default:
				break gather
			}
		}
		s.applyGroup(g)
		ackq <- g
	}
}

func (s *store) applyGroup(g *writeGroup) {
	g.results = make([]writeResult, len(g.reqs))
	if errp := s.failed.Load(); errp != nil {
		for i := range g.results {
			g.results[i].err = *errp
		}
		return
	}
	if len(s.cache) > writerCacheLimit {
		s.cache = map[string]*wstream{}
	}
	b := s.db.NewBatch()
	startPos := s.nextPos
	for i, r := range g.reqs {
		res, err := s.apply(b, r, g)
		if err != nil {
			s.fail(err)
			res = writeResult{err: err}
		}
		g.results[i] = res
	}
	if b.Empty() {
		_ = b.Close()
		return
	}
	g.lastPos = s.nextPos - 1
	if err := s.db.ApplyNoSyncWait(b, pebble.Sync); err != nil {
		_ = b.Close()
		s.fail(err)
		for i := range g.results {
			g.results[i] = writeResult{err: err}
		}
		g.events = nil
		s.nextPos = startPos
		return
	}
	g.batch = b
}

// fail marks the store as failed: after a storage error the writer's cache
// may disagree with the disk, so no further write is accepted.
func (s *store) fail(err error) {
	err = fmt.Errorf("eventstore: storage failed, restart the server: %w", err)
	if s.failed.CompareAndSwap(nil, &err) {
		s.log.Error("event store storage failed", "err", err)
	}
}

func (s *store) ackLoop(ackq <-chan *writeGroup) {
	defer close(s.done)
	for g := range ackq {
		s.ack(g)
	}
}

// ack waits until a group is durable, makes it visible (watermark, live
// subscriptions) and answers its requests.
func (s *store) ack(g *writeGroup) {
	if g.batch != nil {
		err := g.batch.SyncWait()
		_ = g.batch.Close()
		if err != nil {
			s.fail(err)
			for i := range g.results {
				g.results[i] = writeResult{err: err}
			}
			g.events = nil
		} else {
			s.recent.add(g.events)
			s.index.publish(g.events)
			s.durable.Store(g.lastPos)
			s.hub.publish(g.events, g.lastPos)
		}
	}
	for i, r := range g.reqs {
		r.done <- g.results[i]
	}
}

// wstate returns the writer's cached view of a stream, loading it from Pebble
// (which holds every write the writer has applied) on a miss.
func (s *store) wstate(name string) (*wstream, error) {
	if st, ok := s.cache[name]; ok {
		return st, nil
	}
	st := &wstream{lastRev: -1}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: streamPrefix(name), UpperBound: streamUpper(name)})
	if err != nil {
		return nil, err
	}
	if it.Last() {
		rev := revFromStreamKey(it.Key())
		if rev == tombstoneRevision {
			st.tombstoned = true
			if it.Prev() {
				st.lastRev = revFromStreamKey(it.Key())
			}
		} else {
			st.lastRev = rev
		}
	}
	err = errors.Join(it.Error(), it.Close())
	if err != nil {
		return nil, err
	}
	s.cache[name] = st
	return st, nil
}

// wmeta loads the metadata of a (non-metadata) stream into its writer state.
func (s *store) wmeta(name string, st *wstream) error {
	if st.metaLoaded {
		return nil
	}
	ms, err := s.wstate(metadataStreamPrefix + name)
	if err != nil {
		return err
	}
	if ms.lastRev >= 0 {
		rec, ev, err := s.eventAt(metadataStreamPrefix+name, ms.lastRev, math.MaxUint64)
		if err != nil {
			return err
		}
		if rec != nil {
			st.metaBody = bytes.Clone(ev.GetData())
			st.meta = parseStreamMeta(st.metaBody)
		}
	}
	st.metaLoaded = true
	return nil
}

// eventAt reads and decodes the event at rev of stream, if its position is at
// or below maxPos.
func (s *store) eventAt(stream string, rev int64, maxPos uint64) (*record, *api.ReadResp_ReadEvent_RecordedEvent, error) {
	v, closer, err := s.db.Get(streamKey(stream, rev))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	pos := binary.BigEndian.Uint64(v)
	_ = closer.Close()
	if pos > maxPos {
		return nil, nil, nil
	}
	return s.eventByPos(pos)
}

func (s *store) eventByPos(pos uint64) (*record, *api.ReadResp_ReadEvent_RecordedEvent, error) {
	v, closer, err := s.db.Get(eventKey(pos))
	if err != nil {
		return nil, nil, fmt.Errorf("event at position %d: %w", pos, err)
	}
	defer closer.Close()
	rec, err := decodeRecord(bytes.Clone(v))
	if err != nil {
		return nil, nil, fmt.Errorf("event at position %d: %w", pos, err)
	}
	ev := &api.ReadResp_ReadEvent_RecordedEvent{}
	if err := proto.Unmarshal(rec.proto, ev); err != nil {
		return nil, nil, fmt.Errorf("event at position %d: %w", pos, err)
	}
	return &rec, ev, nil
}

func (s *store) apply(b *pebble.Batch, r *writeReq, g *writeGroup) (writeResult, error) {
	st, err := s.wstate(r.stream)
	if err != nil {
		return writeResult{}, err
	}
	if st.tombstoned {
		return writeResult{err: streamDeletedError(r.stream)}, nil
	}
	var meta streamMeta
	if !isMetadataStream(r.stream) {
		if err := s.wmeta(r.stream, st); err != nil {
			return writeResult{}, err
		}
		meta = st.meta
	}
	exists := st.lastRev >= 0 && !meta.softDeleted()
	switch r.op {
	case opDelete, opTombstone:
		if !expectationHolds(r.expect, st.lastRev, exists) {
			return writeResult{wev: &wrongVersion{current: currentRev(st.lastRev, exists), expect: r.expect}}, nil
		}
		if r.op == opTombstone {
			pos := s.put(b, g, r.stream, tombstoneRevision, s.systemEvent(r.stream, "$streamDeleted", nil))
			st.tombstoned = true
			return writeResult{lastRev: st.lastRev, pos: pos, hasPos: true}, nil
		}
		pos, err := s.putMeta(b, g, r.stream, st, math.MaxInt64)
		if err != nil {
			return writeResult{}, err
		}
		st.lastIDs = nil // a retry of an older append must not pass as idempotent
		return writeResult{lastRev: st.lastRev, pos: pos, hasPos: true}, nil
	}

	if r.expect.kind == expectAny && st.lastRev >= 0 && st.lastFirstRev+int64(len(st.lastIDs))-1 == st.lastRev && sameIDs(st.lastIDs, r.events) {
		return writeResult{lastRev: st.lastRev, pos: st.lastPos, hasPos: true}, nil
	}
	if !expectationHolds(r.expect, st.lastRev, exists) {
		if res, ok, err := s.idempotent(r, st); err != nil || ok {
			return res, err
		}
		return writeResult{wev: &wrongVersion{current: currentRev(st.lastRev, exists), expect: r.expect}}, nil
	}
	if len(r.events) == 0 {
		return writeResult{lastRev: currentRev(st.lastRev, exists)}, nil
	}
	if meta.softDeleted() {
		// Writing to a soft-deleted stream recreates it: the numbering goes
		// on and the events before the new ones stay hidden.
		if _, err := s.putMeta(b, g, r.stream, st, st.lastRev+1); err != nil {
			return writeResult{}, err
		}
	}
	first := st.lastRev + 1
	var pos uint64
	for _, e := range r.events {
		st.lastRev++
		pos = s.put(b, g, r.stream, st.lastRev, e)
	}
	st.lastIDs, st.lastFirstRev, st.lastPos = nil, first, pos
	if len(r.events) <= maxRememberedIDs {
		st.lastIDs = make([][16]byte, len(r.events))
		for i, e := range r.events {
			st.lastIDs[i] = e.id
		}
	}
	if isMetadataStream(r.stream) {
		// Keep the target's cached metadata current even when the target
		// is not cached yet: this batch is not in Pebble until the group is
		// applied, so loading it later in the same group would miss it.
		ts, err := s.wstate(r.stream[len(metadataStreamPrefix):])
		if err != nil {
			return writeResult{}, err
		}
		last := r.events[len(r.events)-1].data
		ts.metaBody, ts.meta, ts.metaLoaded = last, parseStreamMeta(last), true
	} else if ms, ok := s.cache[metadataStreamPrefix+r.stream]; ok && ms.lastRev < 0 && !ms.tombstoned {
		// Readers will look for the metadata of a stream they read: tell
		// them there is none as of this append.
		g.events[len(g.events)-1].noMeta = true
	}
	return writeResult{lastRev: st.lastRev, pos: pos, hasPos: true}, nil
}

// idempotent recognises a retry of an append that already succeeded: the
// same event ids, at the same expected revision (exact or no_stream), are
// already in the stream right after that revision.
func (s *store) idempotent(r *writeReq, st *wstream) (writeResult, bool, error) {
	n := int64(len(r.events))
	var from int64
	switch r.expect.kind {
	case expectNoStream:
		from = 0
	case expectExact:
		from = r.expect.rev + 1
	default:
		return writeResult{}, false, nil
	}
	if n == 0 || from < 0 || from+n-1 > st.lastRev {
		return writeResult{}, false, nil
	}
	if st.lastFirstRev == from && int64(len(st.lastIDs)) == n && sameIDs(st.lastIDs, r.events) {
		return writeResult{lastRev: from + n - 1, pos: st.lastPos, hasPos: true}, true, nil
	}
	var lastPos uint64
	for i := int64(0); i < n; i++ {
		_, ev, err := s.eventAt(r.stream, from+i, math.MaxUint64)
		if err != nil {
			return writeResult{}, false, err
		}
		if ev == nil || uuidBytes(ev.GetId()) != r.events[i].id {
			return writeResult{}, false, nil
		}
		lastPos = ev.GetCommitPosition()
	}
	return writeResult{lastRev: from + n - 1, pos: lastPos, hasPos: true}, true, nil
}

func sameIDs(ids [][16]byte, events []proposed) bool {
	if len(ids) != len(events) || len(ids) == 0 {
		return false
	}
	for i := range ids {
		if ids[i] != events[i].id {
			return false
		}
	}
	return true
}

func expectationHolds(e expectation, lastRev int64, exists bool) bool {
	switch e.kind {
	case expectNoStream:
		return !exists
	case expectExists:
		return exists
	case expectExact:
		return e.rev == lastRev && lastRev >= 0
	default:
		return true
	}
}

func currentRev(lastRev int64, exists bool) int64 {
	if !exists {
		return -1
	}
	return lastRev
}

// put adds one event to the batch at the next position.
func (s *store) put(b *pebble.Batch, g *writeGroup, stream string, rev int64, e proposed) uint64 {
	pos := s.nextPos
	s.nextPos++
	v := make([]byte, 0, len(e.header)+len(e.body)+32)
	v = append(v, e.header...)
	v = append(v, e.body...)
	v = appendPositionFields(v, rev, pos)
	_ = b.Set(eventKey(pos), v, nil)
	_ = b.Set(streamKey(stream, rev), putPos(pos), nil)
	g.events = append(g.events, &liveEvent{
		pos: pos, rev: rev, stream: stream, typ: e.typ,
		created: int64(binary.BigEndian.Uint64(e.header[1:9])),
		proto:   v[len(e.header):],
	})
	return pos
}

// putMeta writes a $metadata event to the stream's metadata stream with $tb
// set to tb and every other property kept.
func (s *store) putMeta(b *pebble.Batch, g *writeGroup, stream string, st *wstream, tb int64) (uint64, error) {
	metaName := metadataStreamPrefix + stream
	ms, err := s.wstate(metaName)
	if err != nil {
		return 0, err
	}
	body := withTruncateBefore(st.metaBody, tb)
	ms.lastRev++
	ms.lastIDs = nil
	pos := s.put(b, g, metaName, ms.lastRev, s.systemEvent(metaName, "$metadata", body))
	st.metaBody, st.meta, st.metaLoaded = body, parseStreamMeta(body), true
	return pos, nil
}

// systemEvent builds an event the server writes on its own behalf.
func (s *store) systemEvent(stream, typ string, data []byte) proposed {
	var id [16]byte
	_, _ = rand.Read(id[:])
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	contentType := "application/json"
	if data == nil {
		contentType = "application/octet-stream"
	}
	return encodeProposed(stream, id, typ, contentType, data, nil, nowTicks())
}

func nowTicks() int64 { return time.Now().UnixNano() / 100 }
