package gateway

import (
	"container/list"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiters holds one token bucket per key (a token's subject, or a client
// IP for anonymous requests), at most max of them: the least recently used
// key is evicted when a new one arrives, so a flood of distinct keys costs
// bounded memory. An evicted key starts again with a full bucket, which
// only ever errs towards letting a request through. It is safe for
// concurrent use.
type limiters struct {
	limit rate.Limit
	burst int
	max   int

	mu    sync.Mutex
	byKey map[string]*list.Element
	lru   *list.List // front: most recently used; values are *entry
}

type entry struct {
	key string
	lim *rate.Limiter
}

func newLimiters(limit rate.Limit, burst, max int) *limiters {
	return &limiters{limit: limit, burst: burst, max: max, byKey: make(map[string]*list.Element), lru: list.New()}
}

// allow takes one token from key's bucket at now. When the bucket is empty
// it takes nothing and returns how long until a token is available.
func (l *limiters) allow(key string, now time.Time) (ok bool, retryAfter time.Duration) {
	lim := l.get(key)
	r := lim.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Second
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

func (l *limiters) get(key string) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	if el, ok := l.byKey[key]; ok {
		l.lru.MoveToFront(el)
		return el.Value.(*entry).lim
	}
	for l.lru.Len() >= l.max {
		old := l.lru.Back()
		l.lru.Remove(old)
		delete(l.byKey, old.Value.(*entry).key)
	}
	e := &entry{key: key, lim: rate.NewLimiter(l.limit, l.burst)}
	l.byKey[key] = l.lru.PushFront(e)
	return e.lim
}

// size is the number of keys held.
func (l *limiters) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len()
}

// retryAfterSeconds rounds d up to whole seconds, at least 1, as the
// Retry-After header counts.
func retryAfterSeconds(d time.Duration) int {
	s := int(math.Ceil(d.Seconds()))
	if s < 1 {
		s = 1
	}
	return s
}
