package eventstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
)

// Aggregate is what the Repository needs from a domain aggregate. Its
// methods use only built-in types, so a domain package satisfies it without
// importing this one.
type Aggregate interface {
	// ApplyEvent folds one stored event into the state. It must only change
	// state: no validation, no side effects, no failure, so that replaying
	// history always succeeds and always gives the same state.
	ApplyEvent(event any)
	// PendingEvents returns, in order, the events recorded since the
	// aggregate was built. Recording an event must also apply it, so the
	// state already reflects them (the Repository snapshots that state).
	PendingEvents() []any
}

// RepositoryConfig configures a Repository for one aggregate type.
type RepositoryConfig[A Aggregate] struct {
	// Category prefixes the aggregate's stream: Category + "-" + id, e.g.
	// "ordering.order" gives "ordering.order-<id>". Required.
	Category string
	// New returns an aggregate with no events for id. Required.
	New func(id string) A
	// Events decodes and encodes the aggregate's events. Required.
	Events *Registry
	// MaxRetries bounds how many times Update reloads and retries after a
	// conflicting concurrent append. Default 5; negative means none.
	MaxRetries int
	// ReadBatch is how many events one read request asks for while folding.
	// Default 4096.
	ReadBatch uint64
	// Snapshots, when set, enables snapshots of this aggregate type.
	Snapshots *SnapshotConfig[A]
	// Cache, when set, keeps each stream's aggregate in memory between
	// updates (see CacheConfig), so an update of a stream this process
	// wrote last reads nothing.
	Cache *CacheConfig
	// Now is the clock of the occurred-at metadata. Default time.Now.
	Now func() time.Time
	// Logger receives failures that do not fail the operation (snapshot
	// writes). Default slog.Default().
	Logger *slog.Logger
}

func (c *RepositoryConfig[A]) setDefaults() {
	if c.MaxRetries == 0 {
		c.MaxRetries = 5
	}
	if c.MaxRetries < 0 {
		c.MaxRetries = 0
	}
	if c.ReadBatch == 0 {
		c.ReadBatch = 4096
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports the first missing or malformed setting.
func (c *RepositoryConfig[A]) Validate() error {
	switch {
	case !categoryRe.MatchString(c.Category):
		return fmt.Errorf("eventstore: category %q must match %s", c.Category, categoryRe)
	case c.New == nil:
		return errors.New("eventstore: RepositoryConfig.New is required")
	case c.Events == nil:
		return errors.New("eventstore: RepositoryConfig.Events is required")
	}
	if c.Snapshots != nil {
		return c.Snapshots.Validate()
	}
	return nil
}

var (
	categoryRe = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$`)
	idRe       = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

// Result says what an Update wrote.
type Result struct {
	// Stream is the aggregate's stream name.
	Stream string
	// Revision is the stream's last revision after the update: the revision
	// of the last event appended, or the revision loaded when nothing was.
	// Meaningless when NoStream is true.
	Revision uint64
	// NoStream is true when the stream does not exist (nothing was loaded and
	// nothing appended).
	NoStream bool
	// Appended is how many events the update appended (0 when the aggregate
	// recorded none).
	Appended int
	// Position is the $all position of the append; zero when nothing was
	// appended.
	Position esdb.Position
}

// Repository loads and saves aggregates of one type. It is safe for
// concurrent use; concurrent updates of one aggregate are serialised by the
// store's expected-revision check, not by locks.
type Repository[A Aggregate] struct {
	client *esdb.Client
	cfg    RepositoryConfig[A]
	cache  *streamCache[A] // nil without RepositoryConfig.Cache
}

// NewRepository returns a Repository over client, or the config's
// validation error.
func NewRepository[A Aggregate](client *esdb.Client, cfg RepositoryConfig[A]) (*Repository[A], error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if client == nil {
		return nil, errors.New("eventstore: nil client")
	}
	r := &Repository[A]{client: client, cfg: cfg}
	if cfg.Cache != nil {
		var zero A
		if _, ok := any(zero).(CachedAggregate); !ok {
			return nil, fmt.Errorf("eventstore: RepositoryConfig.Cache needs %T to implement CachedAggregate", zero)
		}
		r.cache = newStreamCache[A](*cfg.Cache)
	}
	return r, nil
}

// Stream returns the name of the stream of aggregate id.
func (r *Repository[A]) Stream(id string) string {
	return r.cfg.Category + "-" + id
}

// Load folds aggregate id from its latest snapshot (if any) and the events
// after it, and returns it with the stream's last revision. It returns
// ErrNotFound when the stream does not exist.
func (r *Repository[A]) Load(ctx context.Context, id string) (A, uint64, error) {
	st, err := r.load(ctx, id, nil)
	if err != nil {
		var zero A
		return zero, 0, err
	}
	if !st.exists {
		var zero A
		return zero, 0, fmt.Errorf("load %s: %w", r.Stream(id), ErrNotFound)
	}
	return st.agg, st.revision, nil
}

// LoadAt folds aggregate id up to and including revision (fewer when the
// stream is shorter) and returns it with the revision it reached: the state
// as it was then. It returns ErrNotFound when the stream does not exist.
func (r *Repository[A]) LoadAt(ctx context.Context, id string, revision uint64) (A, uint64, error) {
	st, err := r.load(ctx, id, &revision)
	if err != nil {
		var zero A
		return zero, 0, err
	}
	if !st.exists {
		var zero A
		return zero, 0, fmt.Errorf("load %s: %w", r.Stream(id), ErrNotFound)
	}
	return st.agg, st.revision, nil
}

// Update loads aggregate id (a fresh one from New when its stream does not
// exist yet, so Update also creates), calls fn on it and appends the events
// fn recorded with the loaded revision as the expected one (no_stream for a
// new stream). On a conflicting concurrent append it reloads and calls fn
// again, at most MaxRetries more times, then fails with ErrConflict; fn must
// therefore touch nothing but the aggregate. An error from fn is returned as
// is and nothing is appended. Event metadata and ids come from ctx (see
// [WithCorrelation], [WithEventIDSource]). With RepositoryConfig.Cache, the
// aggregate may come from the cache instead of the store (see CacheConfig),
// or be a new one under [WithNewStream], and fn may then be called once
// more on the store's state when it records nothing or fails.
func (r *Repository[A]) Update(ctx context.Context, id string, fn func(A) error) (Result, error) {
	if !idRe.MatchString(id) {
		return Result{}, fmt.Errorf("%w: %q", ErrInvalidID, id)
	}
	stream := r.Stream(id)
	var slot *cacheSlot[A]
	if r.cache != nil {
		slot = r.cache.acquire(stream)
		defer r.cache.release(stream, slot)
	}
	trust := true        // an unchecked state (kept or assumed new) may be decided on
	var clean *loaded[A] // a cached state fn left unchanged: brought up to date instead of reloaded
	for attempt := 0; ; {
		st, unchecked, err := r.begin(ctx, id, stream, slot, trust, clean)
		clean = nil
		if err != nil {
			return Result{}, err
		}
		ferr := fn(st.agg)
		pending := st.agg.PendingEvents()
		if unchecked && (ferr != nil || len(pending) == 0) {
			// Only an append checks a decision against the store: one that
			// appends nothing is taken again on the store's state. A failed
			// fn may have left the aggregate half changed, so that is a
			// reload; one that recorded nothing changed nothing, so reading
			// what was appended since is enough.
			trust = false
			if ferr == nil {
				clean = &st
			}
			continue
		}
		if ferr != nil {
			return Result{}, ferr
		}
		if len(pending) == 0 {
			slot.put(st)
			return Result{Stream: stream, Revision: st.revision, NoStream: !st.exists}, nil
		}
		res, err := r.append(ctx, stream, st, pending)
		if err == nil {
			r.saved(ctx, stream, slot, st, res.Revision)
			return res, nil
		}
		// Whatever the attempt started from is stale: the next one reads
		// the store.
		trust = false
		if !IsWrongExpectedVersion(err) {
			return Result{}, err
		}
		if attempt >= r.cfg.MaxRetries {
			return Result{}, fmt.Errorf("update %s after %d attempts: %w: %w", stream, attempt+1, ErrConflict, err)
		}
		attempt++
		// Jitter spreads writers that collided so they do not collide again.
		if err := sleep(ctx, time.Duration(rand.Int64N(int64(time.Millisecond)*int64(attempt)))); err != nil {
			return Result{}, err
		}
	}
}

// begin returns the state an attempt of Update decides on, and whether it
// is unchecked: kept in the cache or assumed new (under WithNewStream)
// rather than read from the store by this attempt. clean, when set, is a
// kept state fn left unchanged, brought up to date from the store.
func (r *Repository[A]) begin(ctx context.Context, id, stream string, slot *cacheSlot[A], trust bool, clean *loaded[A]) (loaded[A], bool, error) {
	if clean != nil {
		st := *clean
		return st, false, r.catchUp(ctx, id, stream, &st)
	}
	if trust {
		if st, ok := slot.take(); ok {
			return st, true, nil
		}
		if expectsNewStream(ctx) && r.cfg.Snapshots == nil {
			// The append's no_stream check, or the store's state, has
			// the last word.
			return loaded[A]{agg: r.cfg.New(id)}, true, nil
		}
	}
	st, err := r.load(ctx, id, nil)
	return st, false, err
}

// saved writes a snapshot when one is due and caches the aggregate, now at
// revision, for the next update of the stream.
func (r *Repository[A]) saved(ctx context.Context, stream string, slot *cacheSlot[A], st loaded[A], revision uint64) {
	snap, known := r.maybeSnapshot(ctx, stream, st, revision)
	if slot == nil || !known {
		// Without knowing where the snapshot stream stands, the next
		// update reads it with the rest.
		return
	}
	any(st.agg).(CachedAggregate).ClearPendingEvents() // NewRepository checked A
	st.revision, st.exists, st.snap = revision, true, snap
	slot.put(st)
}

func (r *Repository[A]) append(ctx context.Context, stream string, st loaded[A], pending []any) (Result, error) {
	meta, err := encodeMetadata(metadataFor(ctx, r.cfg.Now()))
	if err != nil {
		return Result{}, err
	}
	source, deterministic := eventIDSourceFrom(ctx)
	events := make([]esdb.EventData, len(pending))
	for i, p := range pending {
		name, data, err := r.cfg.Events.Encode(p)
		if err != nil {
			return Result{}, fmt.Errorf("append to %s: %w", stream, err)
		}
		eventID := uuid.New()
		if deterministic {
			eventID = EventID(source, stream, i)
		}
		events[i] = esdb.EventData{
			EventID:     eventID,
			EventType:   name,
			ContentType: esdb.ContentTypeJson,
			Data:        data,
			Metadata:    meta,
		}
	}
	var expected esdb.ExpectedRevision = esdb.NoStream{}
	if st.exists {
		expected = esdb.Revision(st.revision)
	}
	wr, err := r.client.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: expected}, events...)
	if err != nil {
		return Result{}, fmt.Errorf("append to %s: %w", stream, err)
	}
	// The store answers with the stream's current revision, which for an
	// idempotent repeat is the one the first append reached; computing it
	// from the expected revision keeps it exact either way.
	revision := uint64(len(events) - 1)
	if st.exists {
		revision = st.revision + uint64(len(events))
	}
	return Result{
		Stream:   stream,
		Revision: revision,
		Appended: len(events),
		Position: esdb.Position{Commit: wr.CommitPosition, Prepare: wr.PreparePosition},
	}, nil
}

// loaded is an aggregate as folded, with where its stream and its snapshot
// stream stood.
type loaded[A Aggregate] struct {
	agg      A
	revision uint64
	exists   bool
	snap     snapshotState
}

func (r *Repository[A]) load(ctx context.Context, id string, upTo *uint64) (loaded[A], error) {
	var st loaded[A]
	if !idRe.MatchString(id) {
		return st, fmt.Errorf("%w: %q", ErrInvalidID, id)
	}
	stream := r.Stream(id)
	from := esdb.StreamPosition(esdb.Start{})
	if r.cfg.Snapshots != nil {
		snap, err := r.readSnapshot(ctx, id, stream, upTo)
		if err != nil {
			return st, err
		}
		st.snap = snap.state
		if snap.found {
			st.agg, st.revision, st.exists = snap.agg, snap.state.revision, true
			from = esdb.Revision(snap.state.revision + 1)
		}
	}
	if !st.exists {
		st.agg = r.cfg.New(id)
	}
	for {
		more, err := r.readPage(ctx, stream, from, upTo, &st)
		if IsStreamNotFound(err) {
			// A snapshot outliving its (deleted) stream must not resurrect it.
			st.agg, st.exists, st.revision = r.cfg.New(id), false, 0
			return st, nil
		}
		if err != nil || !more {
			return st, err
		}
		from = esdb.Revision(st.revision + 1)
	}
}

// catchUp folds into st, a cached state, what the store holds after it.
func (r *Repository[A]) catchUp(ctx context.Context, id, stream string, st *loaded[A]) error {
	from := esdb.StreamPosition(esdb.Start{})
	if st.exists {
		from = esdb.Revision(st.revision + 1)
	}
	for {
		more, err := r.readPage(ctx, stream, from, nil, st)
		if IsStreamNotFound(err) {
			// Deleted since (or never written): the store's state is none.
			*st = loaded[A]{agg: r.cfg.New(id), snap: snapshotState{streamExists: st.snap.streamExists, streamRevision: st.snap.streamRevision}}
			return nil
		}
		if err != nil || !more {
			return err
		}
		from = esdb.Revision(st.revision + 1)
	}
}

// readPage folds up to ReadBatch events starting at from and says whether
// the stream may hold more to fold.
func (r *Repository[A]) readPage(ctx context.Context, stream string, from esdb.StreamPosition, upTo *uint64, st *loaded[A]) (more bool, err error) {
	rs, err := r.client.ReadStream(ctx, stream, esdb.ReadStreamOptions{From: from, Direction: esdb.Forwards}, r.cfg.ReadBatch)
	if err != nil {
		return false, fmt.Errorf("read %s: %w", stream, err)
	}
	defer rs.Close()
	var n uint64
	for {
		re, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return n == r.cfg.ReadBatch, nil
		}
		if err != nil {
			return false, fmt.Errorf("read %s: %w", stream, err)
		}
		n++
		ev := re.OriginalEvent()
		if upTo != nil && ev.EventNumber > *upTo {
			return false, nil
		}
		decoded, err := r.cfg.Events.Decode(ev.EventType, ev.Data)
		if err != nil {
			return false, fmt.Errorf("fold %s@%d: %w", stream, ev.EventNumber, err)
		}
		st.agg.ApplyEvent(decoded)
		st.revision, st.exists = ev.EventNumber, true
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
