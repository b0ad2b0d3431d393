package eventstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/cockroachdb/pebble/v2"
)

// scanChunk is how many entries one Pebble iterator serves before it is
// reopened, so a long read does not pin old memtables and sstables.
const scanChunk = 4096

// errStopScan ends a scan early without an error.
var errStopScan = errors.New("stop scan")

// streamView is a stream's durable state as of a watermark.
type streamView struct {
	lastRev    int64 // -1: no event
	tail       tailPositions
	tombstoned bool
	meta       streamMeta
}

// notFound reports whether reads answer stream_not_found.
func (v streamView) notFound() bool { return v.lastRev < 0 || v.meta.softDeleted() }

// minRev is the first revision reads may return, after $tb and $maxCount.
func (v streamView) minRev() int64 {
	m := v.meta.truncateBefore
	if v.meta.maxCount > 0 && v.lastRev-v.meta.maxCount+1 > m {
		m = v.lastRev - v.meta.maxCount + 1
	}
	return m
}

// expired reports whether an event created at ticks is past $maxAge.
func (v streamView) expired(created, now int64) bool {
	return v.meta.maxAgeTicks > 0 && created < now-v.meta.maxAgeTicks
}

// view reads a stream's durable state: only entries at or below watermark w
// count.
func (s *store) view(name string, w uint64) (streamView, error) {
	v := streamView{lastRev: -1}
	e, err := s.tail(name, w)
	if err != nil {
		return v, err
	}
	v.lastRev, v.tail, v.tombstoned = e.lastRev, e.tail, e.tombstoned
	if isMetadataStream(name) {
		// Metadata streams keep only their latest event, as in KurrentDB.
		v.meta = streamMeta{maxCount: 1}
		return v, nil
	}
	if v.lastRev < 0 {
		// Without events metadata changes nothing: the stream is not
		// found and has nothing to hide.
		return v, nil
	}
	v.meta, err = s.metaFor(name, w)
	return v, err
}

// tail returns a stream's durable tail as of watermark w, from the stream
// index or else from Pebble.
func (s *store) tail(name string, w uint64) (indexEntry, error) {
	e, ok := s.index.lookup(name, w)
	if ok {
		return e, nil
	}
	rev, pos, tomb, err := s.lastEntry(name, w)
	if err != nil {
		return indexEntry{}, err
	}
	e = indexEntry{asOf: w, lastRev: rev, tombstoned: tomb}
	if rev >= 0 {
		e.tail.push(pos)
	}
	s.index.fill(name, e)
	return e, nil
}

// lastEntry finds the last durable revision of a stream (the tombstone
// aside) and whether a durable tombstone exists.
func (s *store) lastEntry(name string, w uint64) (rev int64, pos uint64, tombstoned bool, err error) {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: streamPrefix(name), UpperBound: streamUpper(name)})
	if err != nil {
		return -1, 0, false, err
	}
	defer it.Close()
	for ok := it.Last(); ok; ok = it.Prev() {
		p := binary.BigEndian.Uint64(it.Value())
		if p > w {
			continue
		}
		r := revFromStreamKey(it.Key())
		if r == tombstoneRevision {
			tombstoned = true
			continue
		}
		return r, p, tombstoned, nil
	}
	return -1, 0, tombstoned, it.Error()
}

// metaFor returns the durable metadata of a non-metadata stream, cached by
// the position of its latest metadata event.
func (s *store) metaFor(name string, w uint64) (streamMeta, error) {
	e, err := s.tail(metadataStreamPrefix+name, w)
	if err != nil || e.lastRev < 0 {
		return streamMeta{}, err
	}
	pos := e.tail.pos[0]
	s.metaMu.Lock()
	c, ok := s.metaCache[name]
	s.metaMu.Unlock()
	if ok && c.pos == pos {
		return c.meta, nil
	}
	_, ev, err := s.eventByPos(pos)
	if err != nil {
		return streamMeta{}, err
	}
	m := parseStreamMeta(ev.GetData())
	s.metaMu.Lock()
	if len(s.metaCache) > writerCacheLimit {
		s.metaCache = map[string]cachedMeta{}
	}
	s.metaCache[name] = cachedMeta{pos: pos, meta: m}
	s.metaMu.Unlock()
	return m, nil
}

// scanStream calls fn for the durable events of a stream with revisions in
// [from, to], ascending or descending, stopping when fn returns errStopScan.
// The record passed to fn aliases Pebble memory valid only during the call.
//
// It walks the stream's index and positions a second iterator on the $all
// log for each event: a forward read seeks forwards, which Pebble serves
// with a step rather than a fresh search, several times cheaper than a
// point Get per event.
func (s *store) scanStream(name string, from, to int64, backwards bool, w uint64, fn func(rev int64, pos uint64, rec record) error) error {
	for from <= to {
		lo := streamKey(name, from)
		var hi []byte
		if to < math.MaxInt64 {
			hi = streamKey(name, to+1)
		} else {
			hi = streamUpper(name)
		}
		done, next, err := s.scanStreamChunk(lo, hi, backwards, w, fn)
		if err != nil || done {
			return err
		}
		if backwards {
			to = next
		} else {
			from = next
		}
	}
	return nil
}

// scanStreamChunk serves up to scanChunk index entries in [lo, hi) and
// returns whether the range is exhausted and the revision to go on from.
func (s *store) scanStreamChunk(lo, hi []byte, backwards bool, w uint64, fn func(rev int64, pos uint64, rec record) error) (done bool, next int64, err error) {
	idx, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return false, 0, err
	}
	defer func() { err = errors.Join(err, idx.Close()) }()
	evs, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixEvent}, UpperBound: []byte{prefixEvent + 1}})
	if err != nil {
		return false, 0, err
	}
	defer func() { err = errors.Join(err, evs.Close()) }()
	var ok bool
	if backwards {
		ok = idx.Last()
	} else {
		ok = idx.First()
	}
	var rev int64
	for n := 0; ok && n < scanChunk; n++ {
		rev = revFromStreamKey(idx.Key())
		pos := binary.BigEndian.Uint64(idx.Value())
		if pos <= w && rev != tombstoneRevision {
			key := eventKey(pos)
			if !evs.SeekGE(key) || !bytes.Equal(evs.Key(), key) {
				return false, 0, errors.Join(evs.Error(), fmt.Errorf("stream %q revision %d: event at position %d is missing", lo[3:len(lo)-8], rev, pos))
			}
			v, err := evs.ValueAndErr()
			if err != nil {
				return false, 0, err
			}
			rec, err := decodeRecord(v)
			if err == nil {
				err = fn(rev, pos, rec)
			}
			if errors.Is(err, errStopScan) {
				return true, 0, nil
			}
			if err != nil {
				return false, 0, err
			}
		}
		if backwards {
			ok = idx.Prev()
		} else {
			ok = idx.Next()
		}
	}
	if err := idx.Error(); err != nil || !ok {
		return true, 0, err
	}
	if backwards {
		return rev == 0, rev - 1, nil
	}
	return false, rev + 1, nil
}

// shortRead is the most revisions a read fetches by point lookups; longer
// reads iterate the stream's index, which costs more to set up but less per
// event.
const shortRead = 8

// readShort calls fn for the events of a stream with revisions in
// [from, to], all of them durable (to is at most v.lastRev, the durable
// tail), ascending or descending. Each event is found by point lookups: its
// position in the stream's index, then its record in the $all log, each
// skipped when the stream's tail positions or the recent events hold the
// answer. The RecordedEvent passed to fn aliases memory valid only during
// the call.
func (s *store) readShort(name string, from, to int64, backwards bool, v streamView, fn func(recorded []byte, pos uint64) error) error {
	if to > v.lastRev {
		return fmt.Errorf("stream %q: short read to revision %d past the durable tail %d", name, to, v.lastRev)
	}
	var prefix, evKey []byte // built on first use; streamPrefix leaves room for the revision
	for i := from; i <= to; i++ {
		rev := i
		if backwards {
			rev = to - (i - from)
		}
		pos, ok := v.tail.of(rev, v.lastRev)
		if !ok {
			if prefix == nil {
				prefix = streamPrefix(name)
			}
			pv, closer, err := s.db.Get(binary.BigEndian.AppendUint64(prefix, uint64(rev)))
			if err != nil {
				return fmt.Errorf("stream %q revision %d: index entry: %w", name, rev, err)
			}
			pos = binary.BigEndian.Uint64(pv)
			_ = closer.Close()
		}
		if recorded, ok := s.recent.get(pos); ok {
			if err := fn(recorded, pos); err != nil {
				return err
			}
			continue
		}
		evKey = binary.BigEndian.AppendUint64(append(evKey[:0], prefixEvent), pos)
		ev, closer, err := s.db.Get(evKey)
		if err != nil {
			return fmt.Errorf("stream %q revision %d: event at position %d: %w", name, rev, pos, err)
		}
		rec, err := decodeRecord(ev)
		if err == nil {
			err = fn(rec.proto, pos)
		}
		_ = closer.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// scanAll calls fn for the events of the $all log with positions in
// [from, to], ascending or descending, stopping when fn returns errStopScan.
// The record passed to fn aliases Pebble memory valid only during the call.
func (s *store) scanAll(from, to uint64, backwards bool, fn func(pos uint64, rec record) error) error {
	for from <= to && to > 0 {
		var hi []byte
		if to == math.MaxUint64 {
			hi = []byte{prefixEvent + 1}
		} else {
			hi = eventKey(to + 1)
		}
		it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: eventKey(from), UpperBound: hi})
		if err != nil {
			return err
		}
		n := 0
		var last uint64
		var ok bool
		if backwards {
			ok = it.Last()
		} else {
			ok = it.First()
		}
		for ; ok && n < scanChunk; n++ {
			last = binary.BigEndian.Uint64(it.Key()[1:])
			v, err := it.ValueAndErr()
			var rec record
			if err == nil {
				rec, err = decodeRecord(v)
			}
			if err == nil {
				err = fn(last, rec)
			}
			if err != nil {
				_ = it.Close()
				if errors.Is(err, errStopScan) {
					return nil
				}
				return err
			}
			if backwards {
				ok = it.Prev()
			} else {
				ok = it.Next()
			}
		}
		err = errors.Join(it.Error(), it.Close())
		if err != nil || !ok {
			return err
		}
		if backwards {
			if last <= from {
				return nil
			}
			to = last - 1
		} else {
			from = last + 1
		}
	}
	return nil
}
