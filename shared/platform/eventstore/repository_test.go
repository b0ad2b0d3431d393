package eventstore_test

import (
	"context"
	"errors"
	"log/slog"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

// The given-when-then helpers of this file: given events already in an
// account's stream, when a command runs through Update, then the stream
// holds what it should.

type fixture struct {
	t      *testing.T
	client *esdb.Client
	repo   *eventstore.Repository[*account]
	id     string
}

func newFixture(t *testing.T, mutate ...func(*eventstore.RepositoryConfig[*account])) *fixture {
	t.Helper()
	client := newClient(t)
	return &fixture{t: t, client: client, repo: newRepo(t, client, mutate...), id: uniqueID()}
}

func newRepo(t testing.TB, client *esdb.Client, mutate ...func(*eventstore.RepositoryConfig[*account])) *eventstore.Repository[*account] {
	t.Helper()
	cfg := eventstore.RepositoryConfig[*account]{
		Category: "test.account", New: newAccount, Events: accountEvents(), Logger: slog.New(slog.DiscardHandler),
	}
	for _, m := range mutate {
		m(&cfg)
	}
	repo, err := eventstore.NewRepository(client, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return repo
}

var idCounter atomic.Int64

// uniqueID is an aggregate id no other test (or earlier run against a
// shared store) uses.
func uniqueID() string {
	return "a" + randomHex() + "-" + itoa(idCounter.Add(1))
}

func (f *fixture) given(cmds ...func(*account) error) {
	f.t.Helper()
	for _, cmd := range cmds {
		if _, err := f.repo.Update(f.t.Context(), f.id, cmd); err != nil {
			f.t.Fatalf("given: %v", err)
		}
	}
}

func (f *fixture) when(ctx context.Context, cmd func(*account) error) (eventstore.Result, error) {
	f.t.Helper()
	return f.repo.Update(ctx, f.id, cmd)
}

// thenStream returns the stream's events, failing unless their types are
// want.
func (f *fixture) thenStream(want ...string) []*esdb.RecordedEvent {
	f.t.Helper()
	evs := readStreamT(f.t, f.client, f.repo.Stream(f.id))
	var got []string
	for _, e := range evs {
		got = append(got, e.EventType)
	}
	if len(got) != len(want) {
		f.t.Fatalf("stream holds %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			f.t.Fatalf("stream holds %v, want %v", got, want)
		}
	}
	return evs
}

func open(owner string) func(*account) error { return func(a *account) error { return a.Open(owner) } }

func deposit(amount int, source string) func(*account) error {
	return func(a *account) error { return a.Deposit(amount, source) }
}

const (
	opened    = "test.account.opened"
	deposited = "test.account.deposited"
)

func TestUpdateCreatesThenAppendsAtTheExpectedRevision(t *testing.T) {
	t.Parallel()
	f := newFixture(t)

	res, err := f.when(t.Context(), open("ada"))
	if err != nil || res.Revision != 0 || res.Appended != 1 || res.NoStream || res.Stream != "test.account-"+f.id {
		t.Fatalf("create: %+v, %v", res, err)
	}
	res, err = f.when(t.Context(), func(a *account) error {
		if err := a.Deposit(5, ""); err != nil {
			return err
		}
		return a.Deposit(7, "")
	})
	if err != nil || res.Revision != 2 || res.Appended != 2 {
		t.Fatalf("deposit twice: %+v, %v", res, err)
	}
	f.thenStream(opened, deposited, deposited)

	a, rev, err := f.repo.Load(t.Context(), f.id)
	if err != nil || rev != 2 || a.balance != 12 || a.owner != "ada" {
		t.Fatalf("load: %+v at %d, %v", a.state(), rev, err)
	}
}

func TestUpdateReturnsTheDomainErrorAndAppendsNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.given(open("ada"))

	_, err := f.when(t.Context(), deposit(-1, ""))
	if !errors.Is(err, errBadAmount) {
		t.Fatalf("got %v, want the domain's error", err)
	}
	f.thenStream(opened)
}

func TestUpdateRecordingNothingWritesNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	res, err := f.when(t.Context(), func(*account) error { return nil })
	if err != nil || !res.NoStream || res.Appended != 0 {
		t.Fatalf("no-op on a new aggregate: %+v, %v", res, err)
	}
	if _, _, err := f.repo.Load(t.Context(), f.id); !errors.Is(err, eventstore.ErrNotFound) {
		t.Fatalf("a no-op created the stream: %v", err)
	}

	f.given(open("ada"), deposit(3, "src-1"))
	res, err = f.when(t.Context(), deposit(3, "src-1")) // a repeat the domain ignores
	if err != nil || res.NoStream || res.Appended != 0 || res.Revision != 1 {
		t.Fatalf("ignored repeat: %+v, %v", res, err)
	}
	f.thenStream(opened, deposited)
}

func TestLoadRefusesMissingStreamsAndBadIDs(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if _, _, err := f.repo.Load(t.Context(), f.id); !errors.Is(err, eventstore.ErrNotFound) {
		t.Fatalf("load missing: %v", err)
	}
	for _, id := range []string{"", "has space", "dollar$", string(make([]byte, 65))} {
		if _, err := f.repo.Update(t.Context(), id, open("x")); !errors.Is(err, eventstore.ErrInvalidID) {
			t.Fatalf("update %q: %v, want ErrInvalidID", id, err)
		}
	}
}

func TestLoadFailsOnAnUnknownEventType(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.given(open("ada"))
	appendRaw(t, f.client, f.repo.Stream(f.id), esdb.Revision(0), "test.account.frozen")
	if _, _, err := f.repo.Load(t.Context(), f.id); !errors.Is(err, eventstore.ErrUnknownEventType) {
		t.Fatalf("load: %v, want ErrUnknownEventType (never skip history)", err)
	}
}

func TestLoadAtFoldsHistoryUpToARevision(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.given(open("ada"), deposit(1, ""), deposit(10, ""), deposit(100, ""))

	for _, tc := range []struct {
		revision, wantRev uint64
		wantBalance       int
	}{{0, 0, 0}, {2, 2, 11}, {3, 3, 111}, {50, 3, 111}} {
		a, rev, err := f.repo.LoadAt(t.Context(), f.id, tc.revision)
		if err != nil || rev != tc.wantRev || a.balance != tc.wantBalance {
			t.Fatalf("LoadAt(%d): balance %d at %d, %v; want %d at %d", tc.revision, a.balance, rev, err, tc.wantBalance, tc.wantRev)
		}
	}
}

func TestConcurrentUpdatesAllLandOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *eventstore.RepositoryConfig[*account]) { c.MaxRetries = 50 })
	f.given(open("ada"))
	const writers = 10
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.repo.Update(t.Context(), f.id, deposit(1, ""))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	a, rev, err := f.repo.Load(t.Context(), f.id)
	if err != nil || a.balance != writers || rev != writers {
		t.Fatalf("after %d concurrent deposits: balance %d at revision %d, %v", writers, a.balance, rev, err)
	}
}

func TestUpdateGivesUpAfterMaxRetries(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *eventstore.RepositoryConfig[*account]) { c.MaxRetries = 2 })
	f.given(open("ada"))
	other := newRepo(t, f.client)

	calls := 0
	_, err := f.when(t.Context(), func(a *account) error {
		calls++
		// A concurrent writer lands between every load and save.
		if _, err := other.Update(t.Context(), f.id, deposit(1, "")); err != nil {
			return err
		}
		return a.Deposit(100, "")
	})
	if !errors.Is(err, eventstore.ErrConflict) || !eventstore.IsWrongExpectedVersion(err) {
		t.Fatalf("got %v, want ErrConflict wrapping wrong expected version", err)
	}
	if calls != 3 {
		t.Fatalf("fn ran %d times, want 1 + MaxRetries(2)", calls)
	}
	f.thenStream(opened, deposited, deposited, deposited)
}

func TestMetadataComesFromTheContext(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := eventstore.WithCorrelation(t.Context(), "corr-1")
	ctx = eventstore.WithCausation(ctx, "cause-1")
	ctx = eventstore.WithTraceparent(ctx, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	if _, err := f.when(ctx, open("ada")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.when(t.Context(), deposit(1, "")); err != nil {
		t.Fatal(err)
	}
	evs := f.thenStream(opened, deposited)

	md := parseMetadata(t, evs[0])
	if md.CorrelationID != "corr-1" || md.CausationID != "cause-1" || md.Traceparent != "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" || md.OccurredAt.IsZero() {
		t.Fatalf("metadata from ctx: %+v", md)
	}
	// With nothing in ctx, the event starts a chain and a trace of its own.
	md = parseMetadata(t, evs[1])
	traceparent := regexp.MustCompile(`^00-[0-9a-f]{32}-[0-9a-f]{16}-01$`)
	if md.CorrelationID == "" || md.CausationID != md.CorrelationID || !traceparent.MatchString(md.Traceparent) || md.OccurredAt.IsZero() {
		t.Fatalf("default metadata: %+v", md)
	}
}

func TestEventIDsDerivedFromTheSource(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.given(open("ada"))
	ctx := eventstore.WithEventIDSource(t.Context(), "payment-42")
	if _, err := f.when(ctx, deposit(5, "")); err != nil {
		t.Fatal(err)
	}
	evs := f.thenStream(opened, deposited)
	if want := eventstore.EventID("payment-42", f.repo.Stream(f.id), 0); evs[1].EventID != want {
		t.Fatalf("event id %s, want %s", evs[1].EventID, want)
	}
}

// A redelivered message handled twice at once: both handlers load the same
// revision before either saves, so the domain cannot see the repeat; the
// derived ids make the second append a duplicate the store drops.
func TestRedeliveryRacingItselfWritesOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.given(open("ada"))
	ctx := eventstore.WithEventIDSource(t.Context(), "message-7")

	var loaded sync.WaitGroup
	loaded.Add(2)
	var once [2]sync.Once
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = f.repo.Update(ctx, f.id, func(a *account) error {
				once[i].Do(func() { loaded.Done(); loaded.Wait() })
				return a.Deposit(5, "")
			})
		}()
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("handlers: %v, %v", errs[0], errs[1])
	}
	f.thenStream(opened, deposited)
}

// A policy reacting to a stored event: what it appends points back to the
// event, stays in its correlation and trace, and has ids derived from it.
func TestWithCauseLinksTheEffectToItsCause(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	root := eventstore.WithTraceparent(eventstore.WithCorrelation(t.Context(), "order-9"), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	if _, err := f.when(root, open("ada")); err != nil {
		t.Fatal(err)
	}
	cause := eventstore.NewRecordedEvent(f.thenStream(opened)[0])

	if _, err := f.when(eventstore.WithCause(t.Context(), cause), deposit(5, "")); err != nil {
		t.Fatal(err)
	}
	effect := f.thenStream(opened, deposited)[1]
	md := parseMetadata(t, effect)
	if md.CorrelationID != "order-9" || md.CausationID != cause.ID.String() || md.Traceparent != cause.Metadata.Traceparent {
		t.Fatalf("effect metadata %+v, cause %s %+v", md, cause.ID, cause.Metadata)
	}
	if want := eventstore.EventID(cause.ID.String(), f.repo.Stream(f.id), 0); effect.EventID != want {
		t.Fatalf("effect id %s, want %s derived from the cause", effect.EventID, want)
	}
}
