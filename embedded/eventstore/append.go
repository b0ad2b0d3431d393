package eventstore

import (
	"context"
	"errors"
	"io"
	"unicode/utf8"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	api "github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
)

// streamsServer implements the Streams service.
type streamsServer struct {
	api.UnimplementedStreamsServer
	srv *Server
}

// validateStreamName rejects names the store cannot hold or that are not
// writable streams.
func (s *Server) validateStreamName(name string) error {
	switch {
	case name == "":
		return badRequest("stream name must not be empty")
	case len(name) > s.cfg.MaxStreamNameLen:
		return badRequest("stream name is %d bytes, more than the limit of %d", len(name), s.cfg.MaxStreamNameLen)
	case !utf8.ValidString(name):
		return badRequest("stream name must be valid UTF-8")
	case name == "$all":
		return badRequest("$all cannot be written to or deleted")
	case name == metadataStreamPrefix:
		return badRequest("metadata stream name %q names no stream", name)
	case isMetadataStream(name) && isMetadataStream(name[len(metadataStreamPrefix):]):
		return badRequest("metadata stream %q of a metadata stream is not supported", name)
	}
	return nil
}

// Append stores the proposed events of one request atomically, after the
// expected revision check; the answer is sent once they are durable.
func (h *streamsServer) Append(srv api.Streams_AppendServer) error {
	ctx := srv.Context()
	first, err := srv.Recv()
	if err != nil {
		return toRPC(ctx, err)
	}
	opts := first.GetOptions()
	if opts == nil {
		return toRPC(ctx, badRequest("the first append message must carry options"))
	}
	name := string(opts.GetStreamIdentifier().GetStreamName())
	reqErr := h.srv.validateStreamName(name)
	var expect expectation
	switch e := opts.GetExpectedStreamRevision().(type) {
	case *api.AppendReq_Options_Revision:
		expect = expectation{kind: expectExact, rev: int64(e.Revision)}
	case *api.AppendReq_Options_NoStream:
		expect = expectation{kind: expectNoStream}
	case *api.AppendReq_Options_StreamExists:
		expect = expectation{kind: expectExists}
	default:
		expect = expectation{kind: expectAny}
	}
	created := nowTicks()
	var events []proposed
	size := 0
	for {
		var msg rawIn
		err := srv.RecvMsg(&msg)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return toRPC(ctx, err)
		}
		if reqErr != nil {
			// Keep reading: the client only looks at the status after it
			// has sent every event.
			continue
		}
		size += len(msg.b)
		if size > h.srv.cfg.MaxAppendSize {
			reqErr = maxAppendSizeError(h.srv.cfg.MaxAppendSize)
			events = nil
			continue
		}
		pm, err := decodeAppendProposed(msg.b)
		if err != nil {
			reqErr = badRequest("%v", err)
			continue
		}
		p, err := toProposed(name, pm, created)
		if err != nil {
			reqErr = err
			continue
		}
		events = append(events, p)
	}
	if reqErr != nil {
		return toRPC(ctx, reqErr)
	}
	res, err := h.srv.store.submit(ctx, &writeReq{op: opAppend, stream: name, expect: expect, events: events, size: size})
	if err == nil {
		err = res.err
	}
	if err != nil {
		return toRPC(ctx, err)
	}
	if res.wev != nil {
		return srv.SendAndClose(&api.AppendResp{Result: &api.AppendResp_WrongExpectedVersion_{WrongExpectedVersion: wrongVersionProto(res.wev)}})
	}
	success := &api.AppendResp_Success{}
	if res.lastRev < 0 {
		success.CurrentRevisionOption = &api.AppendResp_Success_NoStream{NoStream: &shared.Empty{}}
	} else {
		success.CurrentRevisionOption = &api.AppendResp_Success_CurrentRevision{CurrentRevision: uint64(res.lastRev)}
	}
	if res.hasPos {
		success.PositionOption = &api.AppendResp_Success_Position{Position: &api.AppendResp_Position{CommitPosition: res.pos, PreparePosition: res.pos}}
	} else {
		success.PositionOption = &api.AppendResp_Success_NoPosition{NoPosition: &shared.Empty{}}
	}
	return srv.SendAndClose(&api.AppendResp{Result: &api.AppendResp_Success_{Success: success}})
}

// toProposed validates a proposed event and encodes it for storage.
func toProposed(stream string, pm proposedWire, created int64) (proposed, error) {
	if !pm.hasID {
		return proposed{}, badRequest("event id is missing or is not a UUID")
	}
	if !pm.hasType || pm.typ == "" {
		return proposed{}, badRequest("required metadata property 'type' is missing")
	}
	if !pm.hasContentTy {
		return proposed{}, badRequest("required metadata property 'content-type' is missing")
	}
	if !utf8.ValidString(pm.typ) || !utf8.ValidString(pm.contentType) {
		return proposed{}, badRequest("event type and content type must be valid UTF-8")
	}
	return encodeProposed(stream, pm.id, pm.typ, pm.contentType, pm.data, pm.custom, created), nil
}

func wrongVersionProto(w *wrongVersion) *api.AppendResp_WrongExpectedVersion {
	out := &api.AppendResp_WrongExpectedVersion{}
	empty := &shared.Empty{}
	if w.current < 0 {
		out.CurrentRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_NoStream_20_6_0{NoStream_20_6_0: empty}
		out.CurrentRevisionOption = &api.AppendResp_WrongExpectedVersion_CurrentNoStream{CurrentNoStream: empty}
	} else {
		out.CurrentRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_CurrentRevision_20_6_0{CurrentRevision_20_6_0: uint64(w.current)}
		out.CurrentRevisionOption = &api.AppendResp_WrongExpectedVersion_CurrentRevision{CurrentRevision: uint64(w.current)}
	}
	switch w.expect.kind {
	case expectExact:
		out.ExpectedRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_ExpectedRevision_20_6_0{ExpectedRevision_20_6_0: uint64(w.expect.rev)}
		out.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedRevision{ExpectedRevision: uint64(w.expect.rev)}
	case expectNoStream:
		out.ExpectedRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_ExpectedRevision_20_6_0{ExpectedRevision_20_6_0: ^uint64(0)}
		out.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedNoStream{ExpectedNoStream: empty}
	case expectExists:
		out.ExpectedRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_StreamExists_20_6_0{StreamExists_20_6_0: empty}
		out.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedStreamExists{ExpectedStreamExists: empty}
	default:
		out.ExpectedRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_Any_20_6_0{Any_20_6_0: empty}
		out.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedAny{ExpectedAny: empty}
	}
	return out
}

// Delete soft-deletes a stream: its metadata gets $tb = max int64, reads
// answer stream_not_found, and a later append resumes the numbering.
func (h *streamsServer) Delete(ctx context.Context, req *api.DeleteReq) (*api.DeleteResp, error) {
	opts := req.GetOptions()
	name := string(opts.GetStreamIdentifier().GetStreamName())
	if err := h.srv.validateStreamName(name); err != nil {
		return nil, toRPC(ctx, err)
	}
	if isMetadataStream(name) {
		return nil, toRPC(ctx, badRequest("metadata stream %q cannot be deleted", name))
	}
	var expect expectation
	switch e := opts.GetExpectedStreamRevision().(type) {
	case *api.DeleteReq_Options_Revision:
		expect = expectation{kind: expectExact, rev: int64(e.Revision)}
	case *api.DeleteReq_Options_NoStream:
		expect = expectation{kind: expectNoStream}
	case *api.DeleteReq_Options_StreamExists:
		expect = expectation{kind: expectExists}
	default:
		expect = expectation{kind: expectAny}
	}
	pos, err := h.srv.deleteStream(ctx, opDelete, name, expect)
	if err != nil {
		return nil, toRPC(ctx, err)
	}
	return &api.DeleteResp{PositionOption: &api.DeleteResp_Position_{Position: &api.DeleteResp_Position{CommitPosition: pos, PreparePosition: pos}}}, nil
}

// Tombstone hard-deletes a stream: a $streamDeleted event is written at
// revision max int64 and every later read or append answers stream deleted.
func (h *streamsServer) Tombstone(ctx context.Context, req *api.TombstoneReq) (*api.TombstoneResp, error) {
	opts := req.GetOptions()
	name := string(opts.GetStreamIdentifier().GetStreamName())
	if err := h.srv.validateStreamName(name); err != nil {
		return nil, toRPC(ctx, err)
	}
	if isMetadataStream(name) {
		return nil, toRPC(ctx, badRequest("metadata stream %q cannot be tombstoned", name))
	}
	var expect expectation
	switch e := opts.GetExpectedStreamRevision().(type) {
	case *api.TombstoneReq_Options_Revision:
		expect = expectation{kind: expectExact, rev: int64(e.Revision)}
	case *api.TombstoneReq_Options_NoStream:
		expect = expectation{kind: expectNoStream}
	case *api.TombstoneReq_Options_StreamExists:
		expect = expectation{kind: expectExists}
	default:
		expect = expectation{kind: expectAny}
	}
	pos, err := h.srv.deleteStream(ctx, opTombstone, name, expect)
	if err != nil {
		return nil, toRPC(ctx, err)
	}
	return &api.TombstoneResp{PositionOption: &api.TombstoneResp_Position_{Position: &api.TombstoneResp_Position{CommitPosition: pos, PreparePosition: pos}}}, nil
}

func (s *Server) deleteStream(ctx context.Context, op writeOp, name string, expect expectation) (uint64, error) {
	res, err := s.store.submit(ctx, &writeReq{op: op, stream: name, expect: expect})
	if err == nil {
		err = res.err
	}
	if err != nil {
		return 0, err
	}
	if res.wev != nil {
		return 0, wrongExpectedVersionError(name, res.wev)
	}
	return res.pos, nil
}
