// Package lease runs a piece of work in one process at a time, among all
// the processes that contend for the same lease name: a context's relay,
// its recoveries, its deadline timer.
//
// The lease lives in the event store, one stream per name
// ("troupe.lease-<name>", metadata maxCount 3). Every acquisition and
// renewal is an append with the exact expected revision, so two contenders
// never both succeed. A contender never compares clocks across machines: it
// takes the lease over once the stream's last revision has not moved for
// the holder's TTL on its own monotonic clock (or at once when the last
// event is a release, or was written under its own holder id). The holder
// cancels its work when it has not renewed within TTL minus Margin of its
// last successful renewal's start, so it stops before any other process can
// see the lease expire (fencing by margin): the work must return within
// Margin of its context ending.
package lease

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

// Defaults of the Config fields left zero.
const (
	// DefaultTTL is Config.TTL's default: how long a dead holder keeps the
	// work stopped before another process takes over. With the default
	// RenewEvery and Margin, a renewal may take up to 8.75 s (a store
	// slowed by load) before the holder stops its work.
	DefaultTTL = 15 * time.Second
)

// EventType is the type of the events of a lease stream.
const EventType = "troupe.lease"

// Stream returns the stream of the lease name: "troupe.lease-<name>".
func Stream(name string) string { return "troupe.lease-" + name }

var leaseName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// Config configures a Lease. EventStore and Name are required.
type Config struct {
	// EventStore holds the lease stream. The Lease does not close it.
	EventStore *esdb.Client
	// Name identifies the work ("relay-catalog"); every process contending
	// for the same work uses the same name.
	Name string
	// Holder identifies this contender. Default: host-pid-random, unique per
	// Lease. A process that finds the lease last written under its own
	// Holder takes it at once, so give a stable Holder only to a process
	// that cannot run twice (`troupe up` holds a lock on its data dir).
	Holder string
	// TTL is how long the lease stays held without renewal; default
	// DefaultTTL.
	TTL time.Duration
	// RenewEvery is the renewal period; default TTL/6.
	RenewEvery time.Duration
	// Margin is how long before the TTL runs out, counted from the start of
	// its last successful renewal, the holder cancels its work; default
	// TTL/4. The work must return within Margin of its context ending.
	Margin time.Duration
	// Poll is how often a contender reads the lease stream; default TTL/10.
	Poll time.Duration
	// Logger; default slog.Default().
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.TTL <= 0 {
		c.TTL = DefaultTTL
	}
	if c.RenewEvery <= 0 {
		c.RenewEvery = c.TTL / 6
	}
	if c.Margin <= 0 {
		c.Margin = c.TTL / 4
	}
	if c.Poll <= 0 {
		c.Poll = c.TTL / 10
	}
	if c.Holder == "" {
		c.Holder = DefaultHolder()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports the first missing or invalid setting.
func (c *Config) Validate() error {
	switch {
	case c.EventStore == nil:
		return errors.New("lease: Config.EventStore is required")
	case !leaseName.MatchString(c.Name):
		return fmt.Errorf("lease: Config.Name %q must match %s", c.Name, leaseName)
	case c.RenewEvery+c.Margin >= c.TTL:
		return fmt.Errorf("lease: RenewEvery %v plus Margin %v must stay below TTL %v", c.RenewEvery, c.Margin, c.TTL)
	}
	return nil
}

// DefaultHolder returns a holder id unique to this call: host, pid and
// random bits.
func DefaultHolder() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return host + "-" + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(b[:])
}

// record is one event of a lease stream.
type record struct {
	Holder   string `json:"holder"`
	TTLMs    int64  `json:"ttlMs"`
	Released bool   `json:"released,omitempty"`
}

// Lease runs work while it holds the lease. Run it once; Held may be
// called from any goroutine.
type Lease struct {
	cfg       Config
	held      atomic.Bool
	contended atomic.Bool
	// takeovers counts acquisitions, for tests and logs.
	takeovers atomic.Int64
}

// New returns a Lease, or the config's first problem. Nothing connects
// until Run.
func New(cfg Config) (*Lease, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Lease{cfg: cfg}, nil
}

// Holder is this contender's id.
func (l *Lease) Holder() string { return l.cfg.Holder }

// Held reports whether this Lease holds the lease and its work runs.
func (l *Lease) Held() bool { return l.held.Load() }

// Contended reports whether Run has read the lease at least once (and so
// either holds it or knows another process does): before that, Held's
// false says nothing.
func (l *Lease) Contended() bool { return l.contended.Load() }

// Acquisitions reports how many times Run acquired the lease.
func (l *Lease) Acquisitions() int64 { return l.takeovers.Load() }

// Run contends for the lease until ctx ends and runs work each time it
// holds it, with a context that ends when ctx ends or the lease is lost
// (a renewal refused or overdue). After work returns it releases the lease
// (so a waiting contender takes over at once) unless it was lost. Run
// returns nil once ctx ended, or work's error when work failed while the
// lease was held; a work that returns nil while the lease is still held
// ends Run with nil too.
func (l *Lease) Run(ctx context.Context, work func(ctx context.Context) error) error {
	for {
		rev, at, err := l.acquire(ctx)
		if err != nil {
			return nil // ctx ended
		}
		l.takeovers.Add(1)
		l.cfg.Logger.InfoContext(ctx, "lease: acquired", "lease", l.cfg.Name, "holder", l.cfg.Holder)
		lost, err := l.hold(ctx, rev, at, work)
		if !lost || ctx.Err() != nil {
			return err
		}
		l.cfg.Logger.WarnContext(ctx, "lease: lost; contending again", "lease", l.cfg.Name, "holder", l.cfg.Holder)
	}
}

// hold runs work under the lease acquired at revision rev by an append
// started at at, renewing it, and says whether the lease was lost.
func (l *Lease) hold(ctx context.Context, rev uint64, at time.Time, work func(ctx context.Context) error) (lost bool, err error) {
	wctx, cancelWork := context.WithCancel(ctx)
	defer cancelWork()
	done := make(chan error, 1)
	l.held.Store(true)
	go func() { done <- work(wctx) }()

	var lostFlag atomic.Bool
	keeperCtx, stopKeeper := context.WithCancel(ctx)
	keeperDone := make(chan uint64, 1)
	go func() {
		r := l.keep(keeperCtx, rev, at, func() {
			lostFlag.Store(true)
			l.held.Store(false)
			cancelWork()
		})
		keeperDone <- r
	}()

	err = <-done
	l.held.Store(false)
	stopKeeper()
	rev = <-keeperDone
	if lostFlag.Load() {
		return true, nil
	}
	// Released with a context of its own: ctx has most often ended here.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if _, rerr := l.write(rctx, esdb.Revision(rev), true); rerr != nil {
		l.cfg.Logger.WarnContext(ctx, "lease: release failed; others take over after the TTL", "lease", l.cfg.Name, "error", rerr)
	}
	if err != nil && ctx.Err() == nil {
		return false, err
	}
	return false, nil
}

// keep renews the lease from revision rev, written by an append started at
// at, until ctx ends (it returns the last revision written) or the lease is
// lost (it calls onLost first).
func (l *Lease) keep(ctx context.Context, rev uint64, at time.Time, onLost func()) uint64 {
	deadline := at.Add(l.cfg.TTL - l.cfg.Margin)
	tick := time.NewTicker(l.cfg.RenewEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return rev
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			l.cfg.Logger.WarnContext(ctx, "lease: renewal overdue, stopping the work", "lease", l.cfg.Name)
			onLost()
			return rev
		}
		start := time.Now()
		rctx, cancel := context.WithDeadline(ctx, deadline)
		next, err := l.write(rctx, esdb.Revision(rev), false)
		cancel()
		switch {
		case err == nil:
			rev = next
			deadline = start.Add(l.cfg.TTL - l.cfg.Margin)
		case eventstore.IsWrongExpectedVersion(err):
			l.cfg.Logger.WarnContext(ctx, "lease: taken over by another holder, stopping the work", "lease", l.cfg.Name)
			onLost()
			return rev
		case ctx.Err() != nil:
			return rev
		default:
			l.cfg.Logger.WarnContext(ctx, "lease: renewal failed, retrying", "lease", l.cfg.Name, "error", err)
		}
	}
}

// acquire waits until this contender holds the lease and returns the
// revision it wrote and when that append started, or ctx's error.
func (l *Lease) acquire(ctx context.Context) (uint64, time.Time, error) {
	var (
		seenRev  uint64
		seenAt   time.Time
		seen     bool
		warnedAt time.Time
	)
	for {
		cur, rev, exists, err := l.read(ctx)
		if err == nil {
			var expected esdb.ExpectedRevision
			switch {
			case !exists:
				expected = esdb.NoStream{}
			case cur.Released || cur.Holder == l.cfg.Holder:
				expected = esdb.Revision(rev)
			case !seen || rev != seenRev:
				seen, seenRev, seenAt = true, rev, time.Now()
			case time.Since(seenAt) >= time.Duration(cur.TTLMs)*time.Millisecond:
				expected = esdb.Revision(rev)
			}
			if expected != nil {
				start := time.Now()
				next, werr := l.write(ctx, expected, false)
				if werr == nil {
					l.held.Store(true)
					l.contended.Store(true)
					return next, start, nil
				}
				err = werr
			}
			// Set only after a first attempt: a contender that can take
			// the lease at once is reported held, never someone else's.
			if err == nil || eventstore.IsWrongExpectedVersion(err) {
				l.contended.Store(true)
			}
		}
		if err != nil && ctx.Err() == nil && !eventstore.IsWrongExpectedVersion(err) && time.Since(warnedAt) > l.cfg.TTL {
			warnedAt = time.Now()
			l.cfg.Logger.WarnContext(ctx, "lease: reading or taking the lease failed, retrying", "lease", l.cfg.Name, "error", err)
		}
		t := time.NewTimer(l.cfg.Poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, time.Time{}, ctx.Err()
		case <-t.C:
		}
	}
}

// read returns the lease stream's last record and revision.
func (l *Lease) read(ctx context.Context) (record, uint64, bool, error) {
	rs, err := l.cfg.EventStore.ReadStream(ctx, Stream(l.cfg.Name), esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
	if err != nil {
		if eventstore.IsStreamNotFound(err) {
			return record{}, 0, false, nil
		}
		return record{}, 0, false, fmt.Errorf("lease %s: read: %w", l.cfg.Name, err)
	}
	defer rs.Close()
	re, err := rs.Recv()
	if errors.Is(err, io.EOF) || eventstore.IsStreamNotFound(err) {
		return record{}, 0, false, nil
	}
	if err != nil {
		return record{}, 0, false, fmt.Errorf("lease %s: read: %w", l.cfg.Name, err)
	}
	var r record
	if err := json.Unmarshal(re.OriginalEvent().Data, &r); err != nil {
		// An unreadable record holds nothing: treat it as released.
		r = record{Released: true}
	}
	return r, re.OriginalEvent().EventNumber, true, nil
}

// write appends a lease record at the expected revision and returns the
// revision it got.
func (l *Lease) write(ctx context.Context, expected esdb.ExpectedRevision, released bool) (uint64, error) {
	stream := Stream(l.cfg.Name)
	if _, ok := expected.(esdb.NoStream); ok {
		var md esdb.StreamMetadata
		md.SetMaxCount(3)
		if _, err := l.cfg.EventStore.SetStreamMetadata(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, md); err != nil &&
			!eventstore.IsWrongExpectedVersion(err) {
			return 0, fmt.Errorf("lease %s: set metadata: %w", l.cfg.Name, err)
		}
	}
	data, err := json.Marshal(record{Holder: l.cfg.Holder, TTLMs: l.cfg.TTL.Milliseconds(), Released: released})
	if err != nil {
		return 0, err
	}
	res, err := l.cfg.EventStore.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: expected}, esdb.EventData{
		EventID: uuid.New(), EventType: EventType, ContentType: esdb.ContentTypeJson, Data: data,
	})
	if err != nil {
		return 0, fmt.Errorf("lease %s: append: %w", l.cfg.Name, err)
	}
	return res.NextExpectedVersion, nil
}
