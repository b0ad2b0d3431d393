package eventstore_test

import (
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

func withCache(c *eventstore.RepositoryConfig[*account]) {
	c.Cache = &eventstore.CacheConfig{}
}

// seen is what fn was given by an update.
type seen struct {
	agg              *account
	balance, pending int
}

// updateSeeing runs a deposit of amount through repo and returns what fn
// was given, as it was before fn recorded anything.
func updateSeeing(t *testing.T, repo *eventstore.Repository[*account], id string, amount int) seen {
	t.Helper()
	var s seen
	if _, err := repo.Update(t.Context(), id, func(a *account) error {
		s = seen{agg: a, balance: a.balance, pending: len(a.PendingEvents())}
		return a.Deposit(amount, "")
	}); err != nil {
		t.Fatal(err)
	}
	return s
}

// An update of a stream this process wrote last starts from the aggregate
// that update left: nothing is loaded (a load always builds a new one).
func TestCacheUpdateStartsFromTheCachedAggregate(t *testing.T) {
	t.Parallel()
	f := newFixture(t, withCache)
	f.given(open("ada"), deposit(1, ""))
	first := updateSeeing(t, f.repo, f.id, 2)
	second := updateSeeing(t, f.repo, f.id, 3)
	if first.agg != second.agg {
		t.Fatal("the second update was given a reloaded aggregate, want the cached one")
	}
	if second.balance != 3 || second.pending != 0 {
		t.Fatalf("cached aggregate: balance %d with %d pending, want 3 with none", second.balance, second.pending)
	}
	f.thenStream(opened, deposited, deposited, deposited)

	plain := newFixture(t)
	plain.given(open("ada"))
	a := updateSeeing(t, plain.repo, plain.id, 1)
	b := updateSeeing(t, plain.repo, plain.id, 1)
	if a.agg == b.agg {
		t.Fatal("without a cache both updates were given one aggregate, want a load each")
	}
}

// Another writer moved the stream on: the cached decision fails the
// store's check, and fn runs again on the store's state.
func TestCacheSeesOtherWritersThroughTheAppendCheck(t *testing.T) {
	t.Parallel()
	f := newFixture(t, withCache)
	other := newRepo(t, f.client)
	f.given(open("ada"), deposit(1, ""))
	if _, err := other.Update(t.Context(), f.id, deposit(10, "")); err != nil {
		t.Fatal(err)
	}
	var balances []int
	res, err := f.repo.Update(t.Context(), f.id, func(a *account) error {
		balances = append(balances, a.balance)
		return a.Deposit(100, "")
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(balances) != 2 || balances[0] != 1 || balances[1] != 11 {
		t.Fatalf("fn saw balances %v, want [1 11] (the cached state, then the store's)", balances)
	}
	if res.Revision != 3 {
		t.Fatalf("revision %d, want 3", res.Revision)
	}
	a, _, err := other.Load(t.Context(), f.id)
	if err != nil || a.balance != 111 {
		t.Fatalf("store: balance %d, %v; want 111", a.balance, err)
	}
}

// A decision that appends nothing (an error, or no event) is never taken
// on the cached state alone: it is taken again on the store's.
func TestCacheDecisionsWithoutAnAppendAreTakenOnTheStoresState(t *testing.T) {
	t.Parallel()
	f := newFixture(t, withCache)
	other := newRepo(t, f.client)
	f.given(open("ada"), deposit(5, ""))
	if _, err := other.Update(t.Context(), f.id, deposit(10, "")); err != nil {
		t.Fatal(err)
	}
	// Deposits only past a balance of 10: nothing on the cached 5, one
	// on the store's 15.
	topUp := func(a *account) error {
		if a.balance < 10 {
			return nil
		}
		return a.Deposit(1, "")
	}
	if _, err := f.repo.Update(t.Context(), f.id, topUp); err != nil {
		t.Fatal(err)
	}
	f.thenStream(opened, deposited, deposited, deposited)

	// An error on the cached state: taken again on the store's, where the
	// account is open (another writer opened it after this process cached
	// it unopened).
	g := newFixture(t, withCache)
	if _, err := g.repo.Update(t.Context(), g.id, func(*account) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := newRepo(t, g.client).Update(t.Context(), g.id, open("bob")); err != nil {
		t.Fatal(err)
	}
	if _, err := g.repo.Update(t.Context(), g.id, deposit(7, "")); err != nil {
		t.Fatalf("deposit after another writer opened the account: %v, want it to succeed on the store's state", err)
	}
	g.thenStream(opened, deposited)
	// And an error that stands on the store's state is returned as is.
	if _, err := g.repo.Update(t.Context(), g.id, open("eve")); !errors.Is(err, errAlreadyOpen) {
		t.Fatalf("second open: %v, want errAlreadyOpen", err)
	}
}

// Two processes with caches of their own writing one stream concurrently:
// the store's expected-revision check still decides, so no deposit is lost
// or doubled.
func TestCacheKeepsOptimisticConcurrency(t *testing.T) {
	t.Parallel()
	f := newFixture(t, withCache, func(c *eventstore.RepositoryConfig[*account]) { c.MaxRetries = 1000 })
	other := newRepo(t, f.client, withCache, func(c *eventstore.RepositoryConfig[*account]) { c.MaxRetries = 1000 })
	f.given(open("ada"))
	const perWriter = 25
	var wg sync.WaitGroup
	for _, repo := range []*eventstore.Repository[*account]{f.repo, f.repo, other, other} {
		wg.Go(func() {
			for range perWriter {
				if _, err := repo.Update(t.Context(), f.id, deposit(1, "")); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, repo := range []*eventstore.Repository[*account]{f.repo, other, newRepo(t, f.client)} {
		a, rev, err := repo.Load(t.Context(), f.id)
		if err != nil || a.balance != 4*perWriter || rev != 4*perWriter {
			t.Fatalf("balance %d at %d, %v; want %d at %d", a.balance, rev, err, 4*perWriter, 4*perWriter)
		}
	}
}

// With snapshots, cached updates still write them on schedule (the cache
// tracks the snapshot stream), and every state equals a full fold.
func TestCacheWithSnapshotsEqualsFullFold(t *testing.T) {
	t.Parallel()
	f := newFixture(t, withCache, withSnapshots(3, "v1"))
	plain := newRepo(t, f.client)
	f.given(open("ada"))
	for i := 1; i <= 10; i++ {
		updateSeeing(t, f.repo, f.id, i)
		if i%4 == 0 { // a writer without the cache moves the stream on
			if _, err := plain.Update(t.Context(), f.id, deposit(100, "")); err != nil {
				t.Fatal(err)
			}
		}
		want, _, err := plain.Load(t.Context(), f.id)
		if err != nil {
			t.Fatal(err)
		}
		var got int
		if _, err := f.repo.Update(t.Context(), f.id, func(a *account) error { got = a.balance; return nil }); err != nil {
			t.Fatal(err)
		}
		if got != want.balance {
			t.Fatalf("after deposit %d: cached balance %d, full fold %d", i, got, want.balance)
		}
	}
	snaps := readStreamT(t, f.client, eventstore.SnapshotStream(f.repo.Stream(f.id)))
	if len(snaps) == 0 {
		t.Fatal("no snapshot written through cached updates")
	}
}

// Load always reads the store: a cached stream that is deleted loads as
// not found.
func TestCacheOfADeletedStream(t *testing.T) {
	t.Parallel()
	f := newFixture(t, withCache)
	f.given(open("ada"), deposit(1, ""))
	if _, err := f.client.DeleteStream(t.Context(), f.repo.Stream(f.id), esdb.DeleteStreamOptions{ExpectedRevision: esdb.Revision(1)}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.repo.Load(t.Context(), f.id); !errors.Is(err, eventstore.ErrNotFound) {
		t.Fatalf("load of a deleted cached stream: %v, want ErrNotFound", err)
	}
}

// plainAggregate cannot drop its pending events.
type plainAggregate struct{}

func (*plainAggregate) ApplyEvent(any)       {}
func (*plainAggregate) PendingEvents() []any { return nil }

// A cache needs an aggregate that can forget its pending events.
func TestCacheNeedsACachedAggregate(t *testing.T) {
	t.Parallel()
	_, err := eventstore.NewRepository(newClient(t), eventstore.RepositoryConfig[*plainAggregate]{
		Category: "test.plain", New: func(string) *plainAggregate { return &plainAggregate{} },
		Events: eventstore.NewRegistry(), Cache: &eventstore.CacheConfig{}, Logger: slog.New(slog.DiscardHandler),
	})
	if err == nil || !strings.Contains(err.Error(), "CachedAggregate") {
		t.Fatalf("NewRepository: %v, want an error naming CachedAggregate", err)
	}
}

// Under WithNewStream an update starts from a new aggregate without
// reading; when the stream does exist, the no_stream append fails and fn
// runs again on the store's state.
func TestNewStreamHintIsCheckedByTheAppend(t *testing.T) {
	t.Parallel()
	f := newFixture(t, withCache)
	ctx := eventstore.WithNewStream(t.Context())
	var owners []string
	openOnce := func(a *account) error {
		owners = append(owners, a.owner)
		if a.owner != "" {
			return nil
		}
		return a.Open("ada")
	}
	if _, err := f.repo.Update(ctx, f.id, openOnce); err != nil {
		t.Fatal(err)
	}
	if len(owners) != 1 {
		t.Fatalf("fn ran %d times on a new stream, want 1", len(owners))
	}
	f.thenStream(opened)

	// Another process (no cache shared) with the same wrong guess.
	other := newRepo(t, f.client, withCache)
	owners = nil
	if _, err := other.Update(ctx, f.id, openOnce); err != nil {
		t.Fatal(err)
	}
	if len(owners) != 2 || owners[0] != "" || owners[1] != "ada" {
		t.Fatalf("fn saw owners %q, want a new account then the stored one", owners)
	}
	f.thenStream(opened)
	if _, err := other.Update(ctx, f.id, deposit(5, "")); err != nil {
		t.Fatal(err)
	}
	f.thenStream(opened, deposited)
}

// A wrong guess that repeats the stream's first append exactly (same
// derived event ids: a redelivered cause) is a duplicate at the store, so
// the update succeeds on a state that is behind; the next update's append
// check finds that out and decides on the store's state.
func TestNewStreamHintOnARepeatedFirstAppend(t *testing.T) {
	t.Parallel()
	f := newFixture(t, withCache)
	cause := eventstore.WithEventIDSource(t.Context(), "cause-"+f.id)
	if _, err := f.repo.Update(cause, f.id, open("ada")); err != nil {
		t.Fatal(err)
	}
	f.given(deposit(3, ""))
	other := newRepo(t, f.client, withCache)
	if _, err := other.Update(eventstore.WithNewStream(cause), f.id, open("ada")); err != nil {
		t.Fatalf("repeated first append: %v, want the store's duplicate answer", err)
	}
	f.thenStream(opened, deposited)
	var balance int
	if _, err := other.Update(t.Context(), f.id, func(a *account) error {
		balance = a.balance
		return a.Deposit(4, "")
	}); err != nil {
		t.Fatal(err)
	}
	if balance != 3 {
		t.Fatalf("the update after the repeat decided on balance %d, want the store's 3", balance)
	}
	f.thenStream(opened, deposited, deposited)
}
