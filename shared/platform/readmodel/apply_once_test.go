package readmodel_test

import (
	"context"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/troupe-dev/troupe/shared/platform/readmodel"
	"github.com/troupe-dev/troupe/shared/platform/testinfra"
)

// TestApplyOnce: an event applies once per revision, redeliveries and
// older revisions change nothing, gaps are fine, and concurrent deliveries
// of one event apply it exactly once. Against real Redis and miniredis.
func TestApplyOnce(t *testing.T) {
	t.Parallel()
	testinfra.ForEachRedis(t, func(t *testing.T, rb testinfra.RedisBackend) {
		t.Parallel()
		ctx := context.Background()
		opts, _ := redis.ParseURL(rb.URL)
		rdb := redis.NewClient(opts)
		defer rdb.Close()
		p := testinfra.KeyPrefix(t)
		incr := func(pipe redis.Pipeliner) error { pipe.IncrBy(ctx, p+"total", 1); return nil }

		for _, step := range []struct {
			rev  uint64
			want bool
		}{{0, true}, {0, false}, {3, true}, {2, false}, {3, false}, {4, true}} {
			got, err := readmodel.ApplyOnce(ctx, rdb, p+"applied", "s-1", step.rev, incr)
			if err != nil || got != step.want {
				t.Fatalf("apply rev %d = %v, %v; want %v", step.rev, got, err, step.want)
			}
		}
		if n, _ := rdb.Get(ctx, p+"total").Int(); n != 3 {
			t.Fatalf("total = %d, want 3", n)
		}

		var wg sync.WaitGroup
		var mu sync.Mutex
		applied := 0
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := readmodel.ApplyOnce(ctx, rdb, p+"applied", "s-2", 7, incr)
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					applied++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if n, _ := rdb.Get(ctx, p+"total").Int(); applied != 1 || n != 4 {
			t.Fatalf("concurrent duplicates: applied %d times, total %d; want 1 and 4", applied, n)
		}
	})
}
