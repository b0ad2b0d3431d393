package points_test

import (
	"context"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/troupe-dev/troupe/shared/platform/testinfra"
	"github.com/troupe-dev/troupe/subscribers/loyalty/points"
)

func TestFor(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cents, points int64
	}{{0, 0}, {99, 0}, {100, 1}, {1999, 19}, {2000, 20}} {
		got, err := points.For(tc.cents)
		if err != nil || got != tc.points {
			t.Errorf("For(%d) = %d, %v; want %d", tc.cents, got, err, tc.points)
		}
	}
	if _, err := points.For(-1); err == nil {
		t.Error("For(-1): want an error")
	}
}

// TestApplyOncePerRevision: concurrent redeliveries of one event count
// once, a later revision of the stream counts, an earlier one does not.
func TestApplyOncePerRevision(t *testing.T) {
	t.Parallel()
	testinfra.ForEachRedis(t, func(t *testing.T, rb testinfra.RedisBackend) {
		t.Parallel()
		opts, err := redis.ParseURL(rb.URL)
		if err != nil {
			t.Fatal(err)
		}
		rdb := redis.NewClient(opts)
		defer rdb.Close()
		ctx := context.Background()
		m := points.New(testinfra.KeyPrefix(t))
		src := points.Source{Stream: "payments.payment-o1", Revision: 2, Topic: "payments.events", Partition: 3, Offset: 41}
		var wg sync.WaitGroup
		applied := make(chan bool, 8)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := m.Earn(ctx, rdb, src, "c1", 25)
				if err != nil {
					t.Error(err)
				}
				applied <- ok
			}()
		}
		wg.Wait()
		close(applied)
		n := 0
		for ok := range applied {
			if ok {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d of 8 concurrent deliveries applied, want 1", n)
		}
		if ok, _ := m.Reverse(ctx, rdb, points.Source{Stream: src.Stream, Revision: 1}, "c1", 25); ok {
			t.Fatal("an earlier revision was applied")
		}
		if ok, err := m.Reverse(ctx, rdb, points.Source{Stream: src.Stream, Revision: 5, Topic: "payments.events", Partition: 3, Offset: 50}, "c1", 10); !ok || err != nil {
			t.Fatalf("a later revision: applied %v, %v", ok, err)
		}
		a, err := m.Account(ctx, rdb, "c1")
		if err != nil {
			t.Fatal(err)
		}
		if a != (points.Account{CustomerID: "c1", Points: 15, Earned: 25, Reversed: 10}) {
			t.Fatalf("account %+v", a)
		}
		offs, err := m.Offsets(ctx, rdb)
		if err != nil {
			t.Fatal(err)
		}
		if offs["payments.events/3"] != 51 {
			t.Fatalf("offsets %v: want payments.events/3 at 51", offs)
		}
	})
}
