package eventstore

import "sync"

// hub fans durable events out to live subscriptions. Publishing never
// blocks: each subscription has a bounded queue and is marked dropped when
// an event would overflow it.
type hub struct {
	mu        sync.Mutex
	watermark uint64 // last position published
	all       map[*liveSub]struct{}
	streams   map[string]map[*liveSub]struct{}
}

func newHub() *hub {
	return &hub{all: map[*liveSub]struct{}{}, streams: map[string]map[*liveSub]struct{}{}}
}

// liveSub is one subscription's queue of live events.
type liveSub struct {
	stream  string // "" subscribes to $all
	limit   int
	mu      sync.Mutex
	queue   []*liveEvent
	dropped bool
	notify  chan struct{}
}

func (h *hub) setWatermark(pos uint64) {
	h.mu.Lock()
	h.watermark = pos
	h.mu.Unlock()
}

// register adds a live subscription and returns the watermark at that
// moment: every event after it will be queued, every event at or before it
// is durable in storage.
func (h *hub) register(stream string, limit int) (*liveSub, uint64) {
	s := &liveSub{stream: stream, limit: limit, notify: make(chan struct{}, 1)}
	h.mu.Lock()
	defer h.mu.Unlock()
	if stream == "" {
		h.all[s] = struct{}{}
	} else {
		m := h.streams[stream]
		if m == nil {
			m = map[*liveSub]struct{}{}
			h.streams[stream] = m
		}
		m[s] = struct{}{}
	}
	return s, h.watermark
}

func (h *hub) unregister(s *liveSub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.stream == "" {
		delete(h.all, s)
		return
	}
	if m := h.streams[s.stream]; m != nil {
		delete(m, s)
		if len(m) == 0 {
			delete(h.streams, s.stream)
		}
	}
}

// publish queues events (in position order, all durable) to the
// subscriptions that want them and moves the watermark to last.
func (h *hub) publish(events []*liveEvent, last uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.watermark = last
	if len(events) == 0 {
		return
	}
	for s := range h.all {
		s.push(events)
	}
	if len(h.streams) == 0 {
		return
	}
	for i, e := range events {
		for s := range h.streams[e.stream] {
			s.push(events[i : i+1])
		}
	}
}

func (s *liveSub) push(events []*liveEvent) {
	s.mu.Lock()
	if !s.dropped {
		if len(s.queue)+len(events) > s.limit {
			s.dropped = true
			s.queue = nil
		} else {
			s.queue = append(s.queue, events...)
		}
	}
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// take returns the queued events and whether the subscription was dropped.
func (s *liveSub) take() ([]*liveEvent, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queue
	s.queue = nil
	return q, s.dropped
}
