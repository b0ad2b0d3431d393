package eventstore

import (
	"sync"
)

// DefaultCacheStreams is CacheConfig.Streams's default.
const DefaultCacheStreams = 4096

// CacheConfig enables a Repository's aggregate cache: the repository keeps
// each stream's aggregate as this process's last Update left it, so the
// next Update of that stream reads nothing from the store. It decides on
// the cached state and appends at the cached revision; the store stays the
// judge: when another process wrote the stream meanwhile, the append fails
// its expected-revision check and the update reloads from the store and
// decides again, as without the cache. A decision that appends nothing (fn
// returns an error, or records no event) has no such check, so it is never
// taken on the cached state: the update first reads what the store holds
// after the cached revision and asks fn again.
//
// Updates of one stream in one process run one at a time (at the store
// they would conflict anyway). The aggregate type must implement
// CachedAggregate. Loads (Load, LoadAt) always read the store.
type CacheConfig struct {
	// Streams is how many idle streams are kept; past it, an arbitrary one
	// is evicted. Default DefaultCacheStreams.
	Streams int
}

// CachedAggregate is an Aggregate a Repository with a cache keeps between
// updates.
type CachedAggregate interface {
	Aggregate
	// ClearPendingEvents forgets the recorded events once the repository
	// has appended them, so the aggregate can serve the next update.
	ClearPendingEvents()
}

func (c *CacheConfig) setDefaults() {
	if c.Streams <= 0 {
		c.Streams = DefaultCacheStreams
	}
}

// streamCache holds one slot per stream being updated or cached.
type streamCache[A Aggregate] struct {
	max   int
	mu    sync.Mutex
	slots map[string]*cacheSlot[A]
}

// cacheSlot serialises the updates of one stream and holds its cached
// state between them.
type cacheSlot[A Aggregate] struct {
	mu    sync.Mutex // held by the one update of the stream running here
	refs  int        // updates holding or waiting for mu; under streamCache.mu
	entry *loaded[A] // the cached state, clean (no pending events); under mu
}

func newStreamCache[A Aggregate](cfg CacheConfig) *streamCache[A] {
	cfg.setDefaults()
	return &streamCache[A]{max: cfg.Streams, slots: map[string]*cacheSlot[A]{}}
}

// acquire waits until no other update of stream runs here and returns its
// slot, locked.
func (c *streamCache[A]) acquire(stream string) *cacheSlot[A] {
	c.mu.Lock()
	s := c.slots[stream]
	if s == nil {
		c.evict()
		s = &cacheSlot[A]{}
		c.slots[stream] = s
	}
	s.refs++
	c.mu.Unlock()
	s.mu.Lock()
	return s
}

// release unlocks the slot acquire returned, and forgets it when nothing
// is cached in it and no update waits for it.
func (c *streamCache[A]) release(stream string, s *cacheSlot[A]) {
	s.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	s.refs--
	// With refs at zero no update holds s.mu, and each one that wrote
	// entry went through c.mu since: reading entry here is safe.
	if s.refs == 0 && s.entry == nil {
		delete(c.slots, stream)
	}
}

// evict makes room for one more slot by forgetting idle ones. It runs
// under c.mu.
func (c *streamCache[A]) evict() {
	for k, s := range c.slots {
		if len(c.slots) < c.max {
			return
		}
		if s.refs == 0 {
			delete(c.slots, k)
		}
	}
}

// take hands the cached state to the update holding the slot (which may
// change it) and leaves the slot empty until put.
func (s *cacheSlot[A]) take() (loaded[A], bool) {
	if s == nil || s.entry == nil {
		return loaded[A]{}, false
	}
	st := *s.entry
	s.entry = nil
	return st, true
}

// put caches st, which must hold no pending events. A nil slot (no cache)
// ignores it.
func (s *cacheSlot[A]) put(st loaded[A]) {
	if s == nil {
		return
	}
	s.entry = &st
}
