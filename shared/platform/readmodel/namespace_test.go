package readmodel_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/troupe-dev/troupe/shared/platform/readmodel"
	"github.com/troupe-dev/troupe/shared/platform/testinfra"
)

const counterBody = `
local function apply(ns, a, i, n)
  redis.call('INCRBY', ns .. 'total', a[i])
end
`

// TestApplierAndSwitch: the applier dedupes by revision and keeps offsets
// monotonic; Switch refuses a generation that is behind the live one and
// a stale expected alias; Drop removes only its generation; WaitApplied
// waits its whole timeout.
func TestApplierAndSwitch(t *testing.T) {
	t.Parallel()
	testinfra.ForEachRedis(t, func(t *testing.T, rb testinfra.RedisBackend) {
		t.Parallel()
		ctx := context.Background()
		opts, _ := redis.ParseURL(rb.URL)
		rdb := redis.NewClient(opts)
		defer rdb.Close()
		ns := readmodel.Namespace{Root: testinfra.KeyPrefix(t)}
		a := readmodel.NewApplier(ns, counterBody)
		ev := func(rev uint64, off int64, v int) readmodel.Event {
			return readmodel.Event{Stream: "s", Revision: rev, Topic: "t", Partition: 1, Offset: off, OccurredAt: time.Now(), Args: []any{v}}
		}
		if _, err := a.Apply(ctx, rdb, "", ev(0, 0, 1)); !errors.Is(err, readmodel.ErrNoModel) {
			t.Fatalf("no model: %v", err)
		}
		g1, _ := ns.Create(ctx, rdb, "g1")
		n, err := a.Apply(ctx, rdb, "", ev(0, 0, 1), ev(0, 1, 1), ev(5, 2, 10), ev(3, 3, 100))
		if err != nil || n != 2 {
			t.Fatalf("applied %d, %v; want 2", n, err)
		}
		if v, _ := rdb.Get(ctx, ns.Prefix(g1)+"total").Int(); v != 11 {
			t.Fatalf("total %d, want 11", v)
		}
		if _, err := a.Apply(ctx, rdb, "", ev(6, 1, 1)); err != nil { // an older offset never moves it back
			t.Fatal(err)
		}
		offs, _ := ns.Offsets(ctx, rdb, g1)
		if offs[readmodel.OffsetField("t", 1)] != 4 {
			t.Fatalf("offsets %v, want t/1 at 4", offs)
		}

		// g2 has only reached offset 2: the switch must wait.
		if _, err := a.Apply(ctx, rdb, "g2", ev(0, 1, 1)); err != nil {
			t.Fatal(err)
		}
		if ok, err := ns.Switch(ctx, rdb, g1, "g2"); ok || err != nil {
			t.Fatalf("switch while behind = %v, %v", ok, err)
		}
		if _, err := a.Apply(ctx, rdb, "g2", ev(5, 3, 10)); err != nil {
			t.Fatal(err)
		}
		if ok, err := ns.Switch(ctx, rdb, "g0", "g2"); ok || !errors.Is(err, readmodel.ErrAliasMoved) {
			t.Fatalf("switch from a stale alias = %v, %v", ok, err)
		}
		if ok, err := ns.Switch(ctx, rdb, g1, "g2"); !ok || err != nil {
			t.Fatalf("switch = %v, %v", ok, err)
		}
		if live, _ := ns.Live(ctx, rdb); live != "g2" {
			t.Fatalf("live %q", live)
		}
		if err := ns.Drop(ctx, rdb, g1); err != nil {
			t.Fatal(err)
		}
		if n, _ := rdb.Exists(ctx, ns.Prefix(g1)+"total", ns.AppliedKey(g1)).Result(); n != 0 {
			t.Fatal("old generation kept keys")
		}
		if n, _ := rdb.Exists(ctx, ns.Prefix("g2")+"total").Result(); n != 1 {
			t.Fatal("drop touched the live generation")
		}

		want := []readmodel.Want{{Stream: "s", Revision: 5}}
		if err := ns.WaitApplied(ctx, rdb, want, time.Second, 0); err != nil {
			t.Fatalf("reached: %v", err)
		}
		start := time.Now()
		want[0].Revision = 6
		if err := ns.WaitApplied(ctx, rdb, want, 300*time.Millisecond, 0); !errors.Is(err, readmodel.ErrNotReached) || time.Since(start) < 300*time.Millisecond {
			t.Fatalf("not reached: %v after %v", err, time.Since(start))
		}
	})
}
