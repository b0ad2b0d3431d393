package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
)

// CheckpointStore keeps, per subscription name, the $all position up to
// which the subscription has handled every event. Implementations must be
// safe for concurrent use by subscriptions of different names.
type CheckpointStore interface {
	// Load returns the stored position of name; ok is false when none was
	// ever saved.
	Load(ctx context.Context, name string) (pos esdb.Position, ok bool, err error)
	// Save stores pos as name's position, replacing the previous one.
	Save(ctx context.Context, name string, pos esdb.Position) error
}

// CheckpointEventType is the event type of checkpoint events.
const CheckpointEventType = "troupe.checkpoint"

// CheckpointStream returns the stream of name's checkpoints:
// "troupe.checkpoint-<name>", with stream metadata maxCount 1.
func CheckpointStream(name string) string {
	return "troupe.checkpoint-" + name
}

type checkpointData struct {
	Commit  uint64 `json:"commit"`
	Prepare uint64 `json:"prepare"`
}

// StreamCheckpoints is a CheckpointStore in the event store itself: one
// stream per name, each save an event appended with the exact expected
// revision, so two processes running the same subscription make each
// other's saves fail instead of silently interleaving. Safe for concurrent
// use.
type StreamCheckpoints struct {
	client *esdb.Client

	mu   sync.Mutex
	last map[string]uint64 // each checkpoint stream's last revision, when known
}

// NewStreamCheckpoints returns a CheckpointStore over client.
func NewStreamCheckpoints(client *esdb.Client) *StreamCheckpoints {
	return &StreamCheckpoints{client: client, last: map[string]uint64{}}
}

// Load implements CheckpointStore.
func (s *StreamCheckpoints) Load(ctx context.Context, name string) (esdb.Position, bool, error) {
	pos, rev, ok, err := s.read(ctx, name)
	if err != nil || !ok {
		return esdb.Position{}, false, err
	}
	s.mu.Lock()
	s.last[name] = rev
	s.mu.Unlock()
	return pos, true, nil
}

// Save implements CheckpointStore. It fails, wrapping a wrong-expected-
// version error, when another writer saved name's checkpoint since this
// store last read or wrote it; the next Save re-reads and succeeds.
func (s *StreamCheckpoints) Save(ctx context.Context, name string, pos esdb.Position) error {
	stream := CheckpointStream(name)
	s.mu.Lock()
	rev, known := s.last[name]
	s.mu.Unlock()
	exists := known
	if !known {
		_, r, ok, err := s.read(ctx, name)
		if err != nil {
			return err
		}
		rev, exists = r, ok
	}
	var expected esdb.ExpectedRevision = esdb.Revision(rev)
	if !exists {
		expected = esdb.NoStream{}
		if err := setMaxCountOne(ctx, s.client, stream); err != nil {
			return err
		}
	}
	data, err := json.Marshal(checkpointData{Commit: pos.Commit, Prepare: pos.Prepare})
	if err != nil {
		return err
	}
	_, err = s.client.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: expected}, esdb.EventData{
		EventID:     uuid.New(),
		EventType:   CheckpointEventType,
		ContentType: esdb.ContentTypeJson,
		Data:        data,
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		delete(s.last, name)
		return fmt.Errorf("save checkpoint %s: %w", name, err)
	}
	next := uint64(0)
	if exists {
		next = rev + 1
	}
	s.last[name] = next
	return nil
}

func (s *StreamCheckpoints) read(ctx context.Context, name string) (pos esdb.Position, rev uint64, ok bool, err error) {
	stream := CheckpointStream(name)
	rs, err := s.client.ReadStream(ctx, stream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
	if err != nil {
		return pos, 0, false, fmt.Errorf("load checkpoint %s: %w", name, err)
	}
	defer rs.Close()
	re, err := rs.Recv()
	if errors.Is(err, io.EOF) || IsStreamNotFound(err) {
		return pos, 0, false, nil
	}
	if err != nil {
		return pos, 0, false, fmt.Errorf("load checkpoint %s: %w", name, err)
	}
	var cp checkpointData
	if err := json.Unmarshal(re.OriginalEvent().Data, &cp); err != nil {
		return pos, 0, false, fmt.Errorf("load checkpoint %s: %w", name, err)
	}
	return esdb.Position{Commit: cp.Commit, Prepare: cp.Prepare}, re.OriginalEvent().EventNumber, true, nil
}
