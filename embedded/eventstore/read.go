package eventstore

import (
	"fmt"
	"math"
	"strconv"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	api "github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Read serves stream and $all reads and, with subscription options, catch-up
// subscriptions. A read answers only event or stream_not_found messages; a
// subscription starts with a confirmation.
func (h *streamsServer) Read(req *api.ReadReq, srv api.Streams_ReadServer) error {
	ctx := srv.Context()
	opts := req.GetOptions()
	if opts == nil {
		return toRPC(ctx, badRequest("read options are required"))
	}
	filter, err := newFilter(opts)
	if err != nil {
		return toRPC(ctx, err)
	}
	out := &sender{srv: srv, stringIDs: opts.GetUuidOption().GetString_() != nil}
	backwards := opts.GetReadDirection() == api.ReadReq_Options_Backwards
	subscribe := opts.GetSubscription() != nil
	switch so := opts.GetStreamOption().(type) {
	case *api.ReadReq_Options_Stream:
		name := string(so.Stream.GetStreamIdentifier().GetStreamName())
		if name == "" || len(name) > h.srv.cfg.MaxStreamNameLen {
			return toRPC(ctx, badRequest("invalid stream name"))
		}
		if subscribe {
			err = h.srv.subscribeStream(out, name, so.Stream)
		} else {
			err = h.srv.readStream(out, name, so.Stream, backwards, opts.GetCount())
		}
	case *api.ReadReq_Options_All:
		if subscribe {
			err = h.srv.subscribeAll(out, so.All, filter)
		} else {
			err = h.srv.readAll(out, so.All, backwards, opts.GetCount(), filter)
		}
	default:
		err = badRequest("read needs stream or $all options")
	}
	return toRPC(ctx, err)
}

// sender writes ReadResp messages, stored events in their raw wire form.
type sender struct {
	srv       api.Streams_ReadServer
	stringIDs bool
}

func (o *sender) event(recorded []byte, pos uint64) error {
	if o.stringIDs {
		return o.eventStringID(recorded, pos)
	}
	return o.srv.SendMsg(rawMsg(readRespEvent(recorded, pos)))
}

// eventStringID re-encodes an event whose id the client wants as a string.
func (o *sender) eventStringID(recorded []byte, pos uint64) error {
	ev := &api.ReadResp_ReadEvent_RecordedEvent{}
	if err := proto.Unmarshal(recorded, ev); err != nil {
		return fmt.Errorf("event at position %d: %w", pos, err)
	}
	ev.Id = &shared.UUID{Value: &shared.UUID_String_{String_: uuid.UUID(uuidBytes(ev.GetId())).String()}}
	return o.srv.Send(&api.ReadResp{Content: &api.ReadResp_Event{Event: &api.ReadResp_ReadEvent{
		Event: ev, Position: &api.ReadResp_ReadEvent_CommitPosition{CommitPosition: pos},
	}}})
}

func (o *sender) notFound(name string) error {
	return o.srv.Send(&api.ReadResp{Content: &api.ReadResp_StreamNotFound_{StreamNotFound: &api.ReadResp_StreamNotFound{
		StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(name)},
	}}})
}

func (o *sender) confirmation(id string) error {
	return o.srv.Send(&api.ReadResp{Content: &api.ReadResp_Confirmation{Confirmation: &api.ReadResp_SubscriptionConfirmation{SubscriptionId: id}}})
}

func (o *sender) checkpoint(pos uint64) error {
	return o.srv.Send(&api.ReadResp{Content: &api.ReadResp_Checkpoint_{Checkpoint: &api.ReadResp_Checkpoint{CommitPosition: pos, PreparePosition: pos}}})
}

func (o *sender) caughtUp() error {
	return o.srv.Send(&api.ReadResp{Content: &api.ReadResp_CaughtUp_{CaughtUp: &api.ReadResp_CaughtUp{}}})
}

// readStream answers a bounded read of one stream.
func (s *Server) readStream(out *sender, name string, so *api.ReadReq_Options_StreamOptions, backwards bool, count uint64) error {
	w := s.store.durable.Load()
	v, err := s.store.view(name, w)
	if err != nil {
		return err
	}
	if v.tombstoned {
		return streamDeletedError(name)
	}
	if v.notFound() {
		return out.notFound(name)
	}
	if count == 0 {
		return nil
	}
	minRev := v.minRev()
	var from, to int64
	if backwards {
		from, to = minRev, v.lastRev
		switch r := so.GetRevisionOption().(type) {
		case *api.ReadReq_Options_StreamOptions_Start:
			to = 0
		case *api.ReadReq_Options_StreamOptions_Revision:
			if r.Revision < uint64(to) {
				to = int64(r.Revision)
			}
		}
	} else {
		from, to = 0, v.lastRev
		switch r := so.GetRevisionOption().(type) {
		case *api.ReadReq_Options_StreamOptions_End:
			return nil
		case *api.ReadReq_Options_StreamOptions_Revision:
			if r.Revision > uint64(math.MaxInt64) {
				return nil
			}
			from = int64(r.Revision)
		}
		if from < minRev {
			from = minRev
		}
	}
	if from > to {
		return nil
	}
	if n := min(uint64(to-from)+1, count); v.meta.maxAgeTicks == 0 && n <= shortRead {
		// Without $maxAge every revision in range is sent: fetch the n
		// wanted by position.
		if backwards {
			from = to - int64(n) + 1
		} else {
			to = from + int64(n) - 1
		}
		return s.store.readShort(name, from, to, backwards, v, out.event)
	}
	now := nowTicks()
	sent := uint64(0)
	return s.store.scanStream(name, from, to, backwards, w, func(_ int64, pos uint64, rec record) error {
		if v.expired(rec.created, now) {
			return nil
		}
		if err := out.event(rec.proto, pos); err != nil {
			return err
		}
		sent++
		if sent >= count {
			return errStopScan
		}
		return nil
	})
}

// readAll answers a bounded read of the $all log.
func (s *Server) readAll(out *sender, ao *api.ReadReq_Options_AllOptions, backwards bool, count uint64, f *eventFilter) error {
	w := s.store.durable.Load()
	if count == 0 {
		return nil
	}
	var from, to uint64
	if backwards {
		from, to = 1, w
		switch p := ao.GetAllOption().(type) {
		case *api.ReadReq_Options_AllOptions_Start:
			return nil
		case *api.ReadReq_Options_AllOptions_Position:
			if p.Position.GetCommitPosition() == 0 {
				return nil // nothing lies before the first position
			}
			if p.Position.GetCommitPosition() <= to {
				to = p.Position.GetCommitPosition() - 1
			}
		}
	} else {
		from, to = 1, w
		switch p := ao.GetAllOption().(type) {
		case *api.ReadReq_Options_AllOptions_End:
			return nil
		case *api.ReadReq_Options_AllOptions_Position:
			from = max(p.Position.GetCommitPosition(), 1)
		}
	}
	sent := uint64(0)
	return s.store.scanAll(from, to, backwards, func(pos uint64, rec record) error {
		if !f.match(rec.stream, rec.typ) {
			return nil
		}
		if err := out.event(rec.proto, pos); err != nil {
			return err
		}
		sent++
		if sent >= count {
			return errStopScan
		}
		return nil
	})
}

// errDropped ends a subscription whose consumer fell too far behind.
func (s *Server) errDropped() error {
	return status.Error(codes.ResourceExhausted, "subscription dropped: the consumer fell more than "+
		strconv.Itoa(s.cfg.SubscriberBuffer)+" events behind; resubscribe from the last position processed")
}

func (s *Server) errShutdown() error {
	return status.Error(codes.Unavailable, "subscription ended: the event store is shutting down")
}
