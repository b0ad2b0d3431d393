package eventstore

import (
	"context"

	api "github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
)

// subscribeAll serves a catch-up subscription to $all: historical events
// from storage, a caught_up message, then live events from the hub. The
// subscription is registered with the hub only when storage reading is
// nearly done, so a long catch-up cannot overflow the live buffer.
func (s *Server) subscribeAll(out *sender, ao *api.ReadReq_Options_AllOptions, f *eventFilter) error {
	ctx := out.srv.Context()
	if err := out.confirmation(uuid.NewString()); err != nil {
		return err
	}
	var cursor uint64 // last position delivered or skipped
	skipped := 0
	emit := func(pos uint64, stream, typ string, recorded []byte) error {
		cursor = pos
		if f.match(stream, typ) {
			return out.event(recorded, pos)
		}
		skipped++
		if skipped >= f.checkpointEvery {
			skipped = 0
			return out.checkpoint(pos)
		}
		return nil
	}
	scan := func(to uint64) error {
		n := 0
		return s.store.scanAll(cursor+1, to, false, func(pos uint64, rec record) error {
			if n++; n%1024 == 0 {
				if err := s.alive(ctx); err != nil {
					return err
				}
			}
			return emit(pos, rec.stream, rec.typ, rec.proto)
		})
	}

	var sub *liveSub
	var w uint64
	switch p := ao.GetAllOption().(type) {
	case *api.ReadReq_Options_AllOptions_End:
		sub, w = s.hub.register("", s.cfg.SubscriberBuffer)
		cursor = w
	default:
		if pp, ok := p.(*api.ReadReq_Options_AllOptions_Position); ok {
			cursor = pp.Position.GetCommitPosition()
		}
		for {
			w := s.store.durable.Load()
			if cursor >= w {
				break
			}
			if err := scan(w); err != nil {
				return err
			}
		}
		sub, w = s.hub.register("", s.cfg.SubscriberBuffer)
	}
	defer s.hub.unregister(sub)
	if cursor < w {
		if err := scan(w); err != nil {
			return err
		}
	}
	if err := out.caughtUp(); err != nil {
		return err
	}
	return s.live(ctx, sub, func(e *liveEvent) error {
		if e.pos <= cursor {
			return nil
		}
		return emit(e.pos, e.stream, e.typ, e.proto)
	})
}

// subscribeStream serves a catch-up subscription to one stream. Metadata
// ($tb, $maxCount, $maxAge) hides historical events as it does for reads; a
// tombstone ends the subscription with "stream deleted".
func (s *Server) subscribeStream(out *sender, name string, so *api.ReadReq_Options_StreamOptions) error {
	ctx := out.srv.Context()
	if err := out.confirmation(uuid.NewString()); err != nil {
		return err
	}
	cursor := int64(-1) // last revision delivered
	scan := func(w uint64) error {
		v, err := s.store.view(name, w)
		if err != nil {
			return err
		}
		if v.tombstoned {
			return streamDeletedError(name)
		}
		from := max(cursor+1, v.minRev())
		now := nowTicks()
		n := 0
		return s.store.scanStream(name, from, v.lastRev, false, w, func(rev int64, pos uint64, rec record) error {
			if n++; n%1024 == 0 {
				if err := s.alive(ctx); err != nil {
					return err
				}
			}
			cursor = rev
			if v.expired(rec.created, now) {
				return nil
			}
			return out.event(rec.proto, pos)
		})
	}

	var sub *liveSub
	var w uint64
	switch r := so.GetRevisionOption().(type) {
	case *api.ReadReq_Options_StreamOptions_End:
		sub, w = s.hub.register(name, s.cfg.SubscriberBuffer)
		v, err := s.store.view(name, w)
		if err != nil {
			s.hub.unregister(sub)
			return err
		}
		if v.tombstoned {
			s.hub.unregister(sub)
			return streamDeletedError(name)
		}
		cursor = v.lastRev
	default:
		if rr, ok := r.(*api.ReadReq_Options_StreamOptions_Revision); ok {
			cursor = int64(min(rr.Revision, uint64(tombstoneRevision-1)))
		}
		if err := scan(s.store.durable.Load()); err != nil {
			return err
		}
		sub, w = s.hub.register(name, s.cfg.SubscriberBuffer)
	}
	defer s.hub.unregister(sub)
	if err := scan(w); err != nil {
		return err
	}
	if err := out.caughtUp(); err != nil {
		return err
	}
	return s.live(ctx, sub, func(e *liveEvent) error {
		if e.rev == tombstoneRevision {
			return streamDeletedError(name)
		}
		if e.rev <= cursor {
			return nil
		}
		cursor = e.rev
		return out.event(e.proto, e.pos)
	})
}

// live delivers queued live events until the client leaves, the server
// closes or the subscription overflows its buffer.
func (s *Server) live(ctx context.Context, sub *liveSub, deliver func(*liveEvent) error) error {
	for {
		events, dropped := sub.take()
		if dropped {
			return s.errDropped()
		}
		if len(events) == 0 {
			select {
			case <-sub.notify:
			case <-ctx.Done():
				return ctx.Err()
			case <-s.ctx.Done():
				return s.errShutdown()
			}
			continue
		}
		for _, e := range events {
			if err := deliver(e); err != nil {
				return err
			}
		}
	}
}

// alive reports why a long catch-up should stop, if it should.
func (s *Server) alive(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.ctx.Err() != nil {
		return s.errShutdown()
	}
	return nil
}
