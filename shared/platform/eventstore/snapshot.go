package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
)

// SnapshotEventType is the event type of snapshot events.
const SnapshotEventType = "troupe.snapshot"

// SnapshotStream returns the stream holding the snapshots of stream:
// "troupe.snapshot-<stream>". It has stream metadata maxCount 1, so it keeps
// only the latest snapshot, and its name has no "$", so it is an ordinary
// stream that context subscriptions (filtered by their own prefixes) skip.
func SnapshotStream(stream string) string {
	return "troupe.snapshot-" + stream
}

// SnapshotConfig enables snapshots for one aggregate type. A snapshot is an
// optimisation only: loading with every snapshot deleted, or with a
// snapshot that cannot be decoded, folds the full stream and gives the same
// aggregate.
type SnapshotConfig[A any] struct {
	// Every is how many events may accumulate after the latest snapshot (or
	// the stream's start) before an Update writes a new one. Required, > 0.
	Every uint64
	// Version tags the snapshot format; snapshots of another version are
	// ignored, so changing the aggregate's shape only needs a new Version.
	// Required.
	Version string
	// Marshal encodes the aggregate's state (as JSON). Required.
	Marshal func(A) ([]byte, error)
	// Unmarshal rebuilds aggregate id from what Marshal wrote, with no
	// pending events. Required.
	Unmarshal func(id string, data []byte) (A, error)
}

// Validate reports the first missing setting.
func (c *SnapshotConfig[A]) Validate() error {
	switch {
	case c.Every == 0:
		return errors.New("eventstore: SnapshotConfig.Every must be > 0")
	case c.Version == "":
		return errors.New("eventstore: SnapshotConfig.Version is required")
	case c.Marshal == nil || c.Unmarshal == nil:
		return errors.New("eventstore: SnapshotConfig.Marshal and Unmarshal are required")
	}
	return nil
}

// snapshotMeta is the metadata of a snapshot event.
type snapshotMeta struct {
	// Revision is the last revision of the aggregate's stream that the
	// snapshot's state includes.
	Revision uint64 `json:"revision"`
	Version  string `json:"version"`
}

// snapshotState is what a load learnt about the snapshot stream, for the
// next snapshot write.
type snapshotState struct {
	usable         bool   // a snapshot was used for the load
	revision       uint64 // the aggregate revision it covers, when usable
	streamExists   bool
	streamRevision uint64 // the snapshot stream's own last revision
}

type snapshotRead[A Aggregate] struct {
	agg   A
	data  []byte // as stored
	found bool
	state snapshotState
}

func (r *Repository[A]) readSnapshot(ctx context.Context, id, stream string, upTo *uint64) (snapshotRead[A], error) {
	var out snapshotRead[A]
	name := SnapshotStream(stream)
	rs, err := r.client.ReadStream(ctx, name, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
	if err != nil {
		return out, fmt.Errorf("read %s: %w", name, err)
	}
	defer rs.Close()
	re, err := rs.Recv()
	if errors.Is(err, io.EOF) || IsStreamNotFound(err) {
		return out, nil
	}
	if err != nil {
		return out, fmt.Errorf("read %s: %w", name, err)
	}
	ev := re.OriginalEvent()
	out.state.streamExists, out.state.streamRevision = true, ev.EventNumber
	var meta snapshotMeta
	if err := json.Unmarshal(ev.UserMetadata, &meta); err != nil || meta.Version != r.cfg.Snapshots.Version {
		return out, nil
	}
	if upTo != nil && meta.Revision > *upTo {
		return out, nil
	}
	agg, err := r.cfg.Snapshots.Unmarshal(id, ev.Data)
	if err != nil {
		r.cfg.Logger.WarnContext(ctx, "eventstore: ignoring undecodable snapshot", "stream", name, "error", err)
		return out, nil
	}
	out.agg, out.data, out.found = agg, ev.Data, true
	out.state.usable, out.state.revision = true, meta.Revision
	return out, nil
}

// maybeSnapshot writes a snapshot of st's aggregate, now at revision, when
// enough events have accumulated since the last one. Failing to is logged,
// not returned: the events are saved, and a missing snapshot only costs a
// longer fold. It returns where the snapshot stream stands now, and false
// when that is unknown (a write failed).
func (r *Repository[A]) maybeSnapshot(ctx context.Context, stream string, st loaded[A], revision uint64) (snapshotState, bool) {
	cfg := r.cfg.Snapshots
	if cfg == nil {
		return st.snap, true
	}
	since := revision + 1
	if st.snap.usable {
		since = revision - st.snap.revision
	}
	if since < cfg.Every {
		return st.snap, true
	}
	if err := r.writeSnapshot(ctx, stream, st, revision); err != nil {
		r.cfg.Logger.WarnContext(ctx, "eventstore: snapshot not written", "stream", stream, "revision", revision, "error", err)
		return st.snap, false
	}
	next := snapshotState{usable: true, revision: revision, streamExists: true}
	if st.snap.streamExists {
		next.streamRevision = st.snap.streamRevision + 1
	}
	return next, true
}

func (r *Repository[A]) writeSnapshot(ctx context.Context, stream string, st loaded[A], revision uint64) error {
	name := SnapshotStream(stream)
	data, err := r.cfg.Snapshots.Marshal(st.agg)
	if err != nil {
		return fmt.Errorf("marshal snapshot: %w", err)
	}
	meta, err := json.Marshal(snapshotMeta{Revision: revision, Version: r.cfg.Snapshots.Version})
	if err != nil {
		return err
	}
	var expected esdb.ExpectedRevision = esdb.Revision(st.snap.streamRevision)
	if !st.snap.streamExists {
		expected = esdb.NoStream{}
		if err := setMaxCountOne(ctx, r.client, name); err != nil {
			return err
		}
	}
	_, err = r.client.AppendToStream(ctx, name, esdb.AppendToStreamOptions{ExpectedRevision: expected}, esdb.EventData{
		EventID:     uuid.New(),
		EventType:   SnapshotEventType,
		ContentType: esdb.ContentTypeJson,
		Data:        data,
		Metadata:    meta,
	})
	if err != nil {
		// Another writer's snapshot got there first; theirs serves as well.
		return fmt.Errorf("append %s: %w", name, err)
	}
	return nil
}

// setMaxCountOne makes stream keep only its latest event. A concurrent
// writer that set it first is not an error.
func setMaxCountOne(ctx context.Context, client *esdb.Client, stream string) error {
	var md esdb.StreamMetadata
	md.SetMaxCount(1)
	_, err := client.SetStreamMetadata(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, md)
	if err != nil && !IsWrongExpectedVersion(err) {
		return fmt.Errorf("set metadata of %s: %w", stream, err)
	}
	return nil
}

func encodeMetadata(m Metadata) ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode metadata: %w", err)
	}
	return b, nil
}
