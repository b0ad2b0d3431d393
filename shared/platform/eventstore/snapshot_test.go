package eventstore_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

func withSnapshots(every uint64, version string) func(*eventstore.RepositoryConfig[*account]) {
	return func(c *eventstore.RepositoryConfig[*account]) {
		c.Snapshots = &eventstore.SnapshotConfig[*account]{
			Every: every, Version: version, Marshal: marshalAccount, Unmarshal: unmarshalAccount,
		}
	}
}

// latestSnapshot returns the revision the latest snapshot covers, or false.
func latestSnapshot(t *testing.T, c *esdb.Client, stream string) (uint64, bool) {
	t.Helper()
	evs := readStreamT(t, c, eventstore.SnapshotStream(stream))
	if len(evs) == 0 {
		return 0, false
	}
	var meta struct{ Revision uint64 }
	if err := json.Unmarshal(evs[len(evs)-1].UserMetadata, &meta); err != nil {
		t.Fatal(err)
	}
	return meta.Revision, true
}

func TestSnapshotsEveryNEvents(t *testing.T) {
	t.Parallel()
	f := newFixture(t, withSnapshots(3, "v1"))
	f.given(open("ada"), deposit(1, "")) // revisions 0..1: 2 events, no snapshot yet
	if _, ok := latestSnapshot(t, f.client, f.repo.Stream(f.id)); ok {
		t.Fatal("snapshot written before Every events")
	}
	f.given(deposit(1, "")) // revision 2: 3 events
	if rev, ok := latestSnapshot(t, f.client, f.repo.Stream(f.id)); !ok || rev != 2 {
		t.Fatalf("snapshot at %d (%v), want one at revision 2", rev, ok)
	}
	f.given(deposit(1, ""), deposit(1, "")) // revisions 3, 4: only 2 since the snapshot
	if rev, _ := latestSnapshot(t, f.client, f.repo.Stream(f.id)); rev != 2 {
		t.Fatalf("snapshot moved to %d before Every more events", rev)
	}
	f.given(deposit(1, "")) // revision 5
	if rev, _ := latestSnapshot(t, f.client, f.repo.Stream(f.id)); rev != 5 {
		t.Fatalf("snapshot at %d, want 5", rev)
	}

	a, rev, err := f.repo.Load(t.Context(), f.id)
	if err != nil || rev != 5 || a.balance != 5 || a.applied != 0 {
		t.Fatalf("load: balance %d at %d after folding %d events, %v; want 5 at 5 from the snapshot alone", a.balance, rev, a.applied, err)
	}
	md, err := f.client.GetStreamMetadata(t.Context(), eventstore.SnapshotStream(f.repo.Stream(f.id)), esdb.ReadStreamOptions{})
	if err != nil || md.MaxCount() == nil || *md.MaxCount() != 1 {
		t.Fatalf("snapshot stream metadata: %+v, %v; want maxCount 1", md, err)
	}
}

// A snapshot is an optimisation only: with it, without it, deleted, from
// another format version, or undecodable, every load gives the same result.
func TestSnapshotsChangeNoResult(t *testing.T) {
	t.Parallel()
	f := newFixture(t, withSnapshots(4, "v1"))
	f.given(open("ada"))
	for i := range 10 {
		f.given(deposit(i+1, "src-"+itoa(int64(i))))
	}
	stream := f.repo.Stream(f.id)
	if _, ok := latestSnapshot(t, f.client, stream); !ok {
		t.Fatal("no snapshot was written")
	}
	plain := newRepo(t, f.client)
	want, wantRev, err := plain.Load(t.Context(), f.id)
	if err != nil {
		t.Fatal(err)
	}
	if want.applied != 11 {
		t.Fatalf("plain load folded %d events, want all 11", want.applied)
	}

	check := func(name string, repo *eventstore.Repository[*account], wantFolded int) {
		t.Helper()
		got, rev, err := repo.Load(t.Context(), f.id)
		if err != nil || rev != wantRev || !reflect.DeepEqual(got.state(), want.state()) {
			t.Fatalf("%s: %+v at %d, %v; want %+v at %d", name, got.state(), rev, err, want.state(), wantRev)
		}
		if got.applied != wantFolded {
			t.Fatalf("%s: folded %d events, want %d", name, got.applied, wantFolded)
		}
		for _, at := range []uint64{3, 8} {
			g, _, err := repo.LoadAt(t.Context(), f.id, at)
			w, _, _ := plain.LoadAt(t.Context(), f.id, at)
			if err != nil || !reflect.DeepEqual(g.state(), w.state()) {
				t.Fatalf("%s: LoadAt(%d) %+v, %v; want %+v", name, at, g.state(), err, w.state())
			}
		}
	}
	snapRev, _ := latestSnapshot(t, f.client, stream)
	check("with snapshot", f.repo, int(wantRev-snapRev))
	check("other snapshot version", newRepo(t, f.client, withSnapshots(4, "v2")), 11)
	broken := newRepo(t, f.client, withSnapshots(4, "v1"), func(c *eventstore.RepositoryConfig[*account]) {
		c.Snapshots.Unmarshal = func(string, []byte) (*account, error) { return nil, errors.New("corrupt") }
	})
	check("undecodable snapshot", broken, 11)

	if _, err := f.client.DeleteStream(t.Context(), eventstore.SnapshotStream(stream), esdb.DeleteStreamOptions{ExpectedRevision: esdb.Any{}}); err != nil {
		t.Fatal(err)
	}
	check("every snapshot deleted", f.repo, 11)

	// Updates go on, and the aggregate stays right, whatever became of the
	// snapshots.
	f.given(deposit(1000, ""))
	got, _, err := f.repo.Load(t.Context(), f.id)
	if err != nil || got.balance != want.balance+1000 {
		t.Fatalf("after deleting snapshots and updating: balance %d, %v; want %d", got.balance, err, want.balance+1000)
	}
}

func TestSnapshotOfADeletedStreamDoesNotResurrectIt(t *testing.T) {
	t.Parallel()
	f := newFixture(t, withSnapshots(1, "v1"))
	f.given(open("ada"), deposit(1, ""))
	if _, ok := latestSnapshot(t, f.client, f.repo.Stream(f.id)); !ok {
		t.Fatal("no snapshot was written")
	}
	if _, err := f.client.DeleteStream(t.Context(), f.repo.Stream(f.id), esdb.DeleteStreamOptions{ExpectedRevision: esdb.Revision(1)}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.repo.Load(t.Context(), f.id); !errors.Is(err, eventstore.ErrNotFound) {
		t.Fatalf("load of a deleted stream with a snapshot left: %v, want ErrNotFound", err)
	}
}
