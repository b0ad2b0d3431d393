package eventstore_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

func withCache(c *eventstore.RepositoryConfig[*account]) {
	c.Cache = &eventstore.CacheConfig{}
}

// A cached repository folds only what was appended since its last load,
// and still sees every write made by others.
func TestCacheFoldsOnlyNewEventsAndSeesOtherWriters(t *testing.T) {
	t.Parallel()
	f := newFixture(t, withCache)
	other := newRepo(t, f.client)
	f.given(open("ada"), deposit(1, ""), deposit(2, ""))
	if _, _, err := f.repo.Load(t.Context(), f.id); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Update(t.Context(), f.id, deposit(10, "")); err != nil {
		t.Fatal(err)
	}
	a, rev, err := f.repo.Load(t.Context(), f.id)
	if err != nil || a.balance != 13 || rev != 3 {
		t.Fatalf("load after another writer: balance %d at %d, %v; want 13 at 3", a.balance, rev, err)
	}
	if a.applied != 4 {
		t.Fatalf("folded %d events into a fresh aggregate, want 4 (3 cached, 1 read)", a.applied)
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

// With snapshots, the cache starts from the snapshot it read and drops its
// entry when a snapshot is written; every load equals a full fold.
func TestCacheWithSnapshotsEqualsFullFold(t *testing.T) {
	t.Parallel()
	f := newFixture(t, withCache, withSnapshots(3, "v1"))
	plain := newRepo(t, f.client)
	f.given(open("ada"))
	for i := 1; i <= 10; i++ {
		f.given(deposit(i, ""))
		if i%4 == 0 { // a writer without the cache moves the stream on
			if _, err := plain.Update(t.Context(), f.id, deposit(100, "")); err != nil {
				t.Fatal(err)
			}
		}
		got, grev, err := f.repo.Load(t.Context(), f.id)
		if err != nil {
			t.Fatal(err)
		}
		want, wrev, err := plain.Load(t.Context(), f.id)
		if err != nil || got.balance != want.balance || grev != wrev {
			t.Fatalf("after deposit %d: cached balance %d at %d, full fold %d at %d (%v)", i, got.balance, grev, want.balance, wrev, err)
		}
	}
}

// A cached stream that is deleted loads as not found, not from the cache.
func TestCacheOfADeletedStream(t *testing.T) {
	t.Parallel()
	f := newFixture(t, withCache)
	f.given(open("ada"), deposit(1, ""))
	if _, _, err := f.repo.Load(t.Context(), f.id); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.DeleteStream(t.Context(), f.repo.Stream(f.id), esdb.DeleteStreamOptions{ExpectedRevision: esdb.Revision(1)}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.repo.Load(t.Context(), f.id); !errors.Is(err, eventstore.ErrNotFound) {
		t.Fatalf("load of a deleted cached stream: %v, want ErrNotFound", err)
	}
}
