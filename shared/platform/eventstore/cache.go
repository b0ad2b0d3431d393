package eventstore

import (
	"sync"
)

// Defaults of the repository's stream cache (RepositoryConfig.Cache).
const (
	// DefaultCacheStreams is CacheConfig.Streams's default.
	DefaultCacheStreams = 4096
	// DefaultCacheEvents is CacheConfig.Events's default.
	DefaultCacheEvents = 4096
)

// CacheConfig bounds a Repository's stream cache: per stream, the snapshot
// its last load started from and the decoded events read after it, so the
// next load of that stream reads only what was appended since instead of
// the snapshot and every event after it again. The store stays the judge
// of every write (the expected revision of each append is what was folded),
// so a stale entry costs a conflict and a retry, never a wrong write.
// Streams of a cached aggregate must not be deleted and then written again:
// the cache would keep the deleted events (a deleted stream drops its
// entry when read).
type CacheConfig struct {
	// Streams is how many streams are kept; past it, an arbitrary one is
	// evicted. Default DefaultCacheStreams.
	Streams int
	// Events is how many events one stream's entry may hold beyond its
	// snapshot; a longer one is not kept. Default DefaultCacheEvents.
	Events int
}

func (c *CacheConfig) setDefaults() {
	if c.Streams <= 0 {
		c.Streams = DefaultCacheStreams
	}
	if c.Events <= 0 {
		c.Events = DefaultCacheEvents
	}
}

// streamCache holds the entries. It only ever records what the store
// returned to a read, never what this process tried to write, so an entry
// holds exactly the events the store has at those revisions.
//
// Entries are shared between goroutines without copying: an entry's events
// slice is only ever appended to (under mu, past the length any reader was
// handed), so the indices a reader covers are never written.
type streamCache struct {
	cfg     CacheConfig
	mu      sync.Mutex
	entries map[string]*cacheEntry
	gen     uint64
}

// cacheEntry is one stream's cached fold. snapData is nil when the fold
// starts from an empty aggregate.
type cacheEntry struct {
	gen      uint64        // identifies the entry, to extend only the one a load started from
	exists   bool          // the stream exists (events or a snapshot were read)
	snapData []byte        // the snapshot the fold starts from, as stored
	snap     snapshotState // the snapshot stream as read, for the next snapshot write
	events   []any         // decoded events after the snapshot, up to revision
	revision uint64        // the stream's last revision folded
}

func newStreamCache(cfg CacheConfig) *streamCache {
	cfg.setDefaults()
	return &streamCache{cfg: cfg, entries: map[string]*cacheEntry{}}
}

// get returns stream's entry (a copy of its header) and whether there is one.
func (c *streamCache) get(stream string) (cacheEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[stream]
	if !ok {
		return cacheEntry{}, false
	}
	return *e, true
}

// extend records that a load which started from entry from read more, up to
// revision. When the cache moved on meanwhile (another load, a drop), the
// newer state wins and nothing changes.
func (c *streamCache) extend(stream string, from cacheEntry, more []any, revision uint64) {
	if len(more) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cur, ok := c.entries[stream]
	if !ok || cur.gen != from.gen || cur.revision != from.revision {
		return
	}
	if len(cur.events)+len(more) > c.cfg.Events {
		delete(c.entries, stream)
		return
	}
	cur.events = append(cur.events, more...)
	cur.revision = revision
}

// put records a load that started from the store's snapshot (or the
// stream's start), unless the cache already holds a later fold.
func (c *streamCache) put(stream string, e cacheEntry) {
	if len(e.events) > c.cfg.Events {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur, ok := c.entries[stream]; ok && cur.revision >= e.revision {
		return
	}
	if _, ok := c.entries[stream]; !ok && len(c.entries) >= c.cfg.Streams {
		for k := range c.entries { // evict one, arbitrarily
			delete(c.entries, k)
			break
		}
	}
	c.gen++
	e.gen = c.gen
	c.entries[stream] = &e
}

// drop forgets stream: its next load reads the store from the snapshot.
func (c *streamCache) drop(stream string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, stream)
}
