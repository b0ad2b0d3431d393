package eventstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// rpcError is a gRPC error with the "exception" trailers KurrentDB sends; the
// client reads them (e.g. exception=stream-deleted becomes
// ErrorCodeStreamDeleted).
type rpcError struct {
	code     codes.Code
	msg      string
	trailers metadata.MD
}

func (e *rpcError) Error() string { return e.msg }

// GRPCStatus lets grpc-go send e with its code.
func (e *rpcError) GRPCStatus() *status.Status { return status.New(e.code, e.msg) }

func streamDeletedError(stream string) error {
	return &rpcError{
		code:     codes.FailedPrecondition,
		msg:      fmt.Sprintf("Event stream '%s' is deleted.", stream),
		trailers: metadata.Pairs("exception", "stream-deleted", "stream-name", stream),
	}
}

func maxAppendSizeError(limit int) error {
	return &rpcError{
		code:     codes.InvalidArgument,
		msg:      fmt.Sprintf("Maximum Append Size of %d Exceeded.", limit),
		trailers: metadata.Pairs("exception", "maximum-append-size-exceeded", "maximum-append-size", strconv.Itoa(limit)),
	}
}

func wrongExpectedVersionError(stream string, w *wrongVersion) error {
	actual := "-1"
	if w.current >= 0 {
		actual = strconv.FormatInt(w.current, 10)
	}
	return &rpcError{
		code: codes.FailedPrecondition,
		msg: fmt.Sprintf("Append failed due to WrongExpectedVersion. Stream: %s, Expected version: %s, Actual version: %s",
			stream, expectationString(w.expect), actual),
		trailers: metadata.Pairs("exception", "wrong-expected-version", "stream-name", stream,
			"expected-version", expectationString(w.expect), "actual-version", actual),
	}
}

func badRequest(format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	return &rpcError{code: codes.InvalidArgument, msg: msg, trailers: metadata.Pairs("exception", "bad-request")}
}

func expectationString(e expectation) string {
	switch e.kind {
	case expectNoStream:
		return "-1"
	case expectExists:
		return "-4"
	case expectExact:
		return strconv.FormatInt(e.rev, 10)
	default:
		return "-2"
	}
}

// toRPC turns an internal error into what a handler returns: rpcErrors keep
// their code and get their trailers set; context errors map to their codes;
// anything else is Unavailable when the store is closed or Internal.
func toRPC(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var re *rpcError
	if errors.As(err, &re) {
		if re.trailers != nil {
			_ = grpc.SetTrailer(ctx, re.trailers)
		}
		return status.Error(re.code, re.msg)
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, errStoreClosed):
		return status.Error(codes.Unavailable, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}
