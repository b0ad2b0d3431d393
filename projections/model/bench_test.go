package model_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/troupe-dev/troupe/projections/internal/scenario"
	"github.com/troupe-dev/troupe/projections/model"
	"github.com/troupe-dev/troupe/shared/platform/readmodel"
	"github.com/troupe-dev/troupe/shared/platform/testinfra"
)

// BenchmarkApplyFromMemory: the same history, already encoded, applied
// into Redis by apply.lua in batches of 256 events per call (the rebuild
// before the Folder) and by the Folder in batches of 2048 events per
// pipeline (the rebuild now): the Redis side of a rebuild without Kafka.
// It reports events/s of each and the ratio.
func BenchmarkApplyFromMemory(b *testing.B) {
	url := testinfra.RealRedis()
	if url == "" {
		url = testinfra.EmbeddedRedis(b)
	}
	opts, _ := redis.ParseURL(url)
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	ctx := context.Background()
	h := scenario.History(scenario.Config{Orders: 20_000, Products: 50, Customers: 500, Seed: 9})
	evs := make([]readmodel.Event, len(h))
	for i, m := range h {
		ev, err := model.Encode(m.Event, model.Source{Stream: m.Stream, Revision: m.Revision, OccurredAt: m.OccurredAt,
			Topic: "t", Partition: int32(i % 6), Offset: int64(i)})
		if err != nil {
			b.Fatal(err)
		}
		evs[i] = ev
	}
	var lua, fold time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m := model.New(testinfra.KeyPrefix(b))
		gen := readmodel.NewGeneration()
		start := time.Now()
		for lo := 0; lo < len(evs); lo += 256 {
			if _, err := m.Applier().Apply(ctx, rdb, gen, evs[lo:min(lo+256, len(evs))]...); err != nil {
				b.Fatal(err)
			}
		}
		lua += time.Since(start)
		_ = m.Namespace().Drop(ctx, rdb, gen)

		m = model.New(testinfra.KeyPrefix(b))
		gen = readmodel.NewGeneration()
		start = time.Now()
		f := m.Folder(gen)
		for lo := 0; lo < len(evs); lo += 2048 {
			for _, ev := range evs[lo:min(lo+2048, len(evs))] {
				if err := f.Fold(ev); err != nil {
					b.Fatal(err)
				}
			}
			pipe := rdb.Pipeline()
			f.Take().Queue(ctx, pipe, m.Namespace(), gen)
			if _, err := pipe.Exec(ctx); err != nil {
				b.Fatal(err)
			}
		}
		fold += time.Since(start)
		_ = m.Namespace().Drop(ctx, rdb, gen)
	}
	b.StopTimer()
	n := float64(len(evs)) * float64(b.N)
	b.ReportMetric(n/lua.Seconds(), "lua256-ev/s")
	b.ReportMetric(n/fold.Seconds(), "fold2048-ev/s")
	b.ReportMetric(lua.Seconds()/fold.Seconds(), "x-lua")
}
