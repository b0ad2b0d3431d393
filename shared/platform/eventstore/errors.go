package eventstore

import (
	"errors"
	"regexp"
	"strconv"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
)

var (
	// ErrNotFound is returned by loads of a stream that does not exist or was
	// deleted.
	ErrNotFound = errors.New("eventstore: stream not found")
	// ErrConflict is returned by Update when every attempt, retries included,
	// met a concurrent writer (wrong expected version).
	ErrConflict = errors.New("eventstore: concurrent update conflict")
	// ErrUnknownEventType is returned when a stream holds an event type the
	// Registry has no Go type for, or an event's Go type was never registered.
	ErrUnknownEventType = errors.New("eventstore: unknown event type")
	// ErrInvalidID is returned for an aggregate id outside [A-Za-z0-9_-]{1,64}.
	ErrInvalidID = errors.New("eventstore: invalid aggregate id")
)

// IsWrongExpectedVersion reports whether err (or one it wraps) is the store
// refusing an append because the stream is not at the expected revision.
func IsWrongExpectedVersion(err error) bool {
	return hasCode(err, esdb.ErrorCodeWrongExpectedVersion)
}

// IsStreamNotFound reports whether err (or one it wraps) says the stream
// does not exist (never written, or soft-deleted).
func IsStreamNotFound(err error) bool {
	return hasCode(err, esdb.ErrorCodeResourceNotFound)
}

// IsStreamDeleted reports whether err (or one it wraps) says the stream was
// tombstoned (hard-deleted) and can never be read or written again.
func IsStreamDeleted(err error) bool {
	return hasCode(err, esdb.ErrorCodeStreamDeleted)
}

func hasCode(err error, code esdb.ErrorCode) bool {
	var esErr *esdb.Error
	return errors.As(err, &esErr) && esErr.IsErrorCode(code)
}

// The v4 client does not expose the current revision of a wrong-expected-
// version answer as a field, only inside its message.
var currentRevisionRe = regexp.MustCompile(`but got '([^']*)'`)

// CurrentRevision extracts, from a wrong-expected-version error, the revision
// the stream was at when the append was refused. exists is false when the
// stream did not exist; ok is false when err carries no such information.
func CurrentRevision(err error) (revision uint64, exists bool, ok bool) {
	if !IsWrongExpectedVersion(err) {
		return 0, false, false
	}
	m := currentRevisionRe.FindStringSubmatch(err.Error())
	if m == nil {
		return 0, false, false
	}
	if m[1] == "no_stream" {
		return 0, false, true
	}
	n, perr := strconv.ParseUint(m[1], 10, 64)
	if perr != nil {
		return 0, false, false
	}
	return n, true, true
}
