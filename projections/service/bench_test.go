package service_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/troupe-dev/troupe/projections/internal/scenario"
	"github.com/troupe-dev/troupe/projections/model"
	"github.com/troupe-dev/troupe/projections/service"
	"github.com/troupe-dev/troupe/shared/platform/httpapi"
	"github.com/troupe-dev/troupe/shared/platform/readmodel"
	"github.com/troupe-dev/troupe/shared/platform/testinfra"
)

// benchEnv returns the backends for a benchmark: real ones when both
// variables are set (the figures in docs/benchmarks.md), else embedded.
func benchEnv(b *testing.B) (brokers []string, redisURL string) {
	if k, r := testinfra.RealKafka(), testinfra.RealRedis(); k != nil && r != "" {
		return k, r
	}
	return testinfra.EmbeddedKafka(b), testinfra.EmbeddedRedis(b)
}

func encodeAll(b *testing.B, h []scenario.Msg) []readmodel.Event {
	out := make([]readmodel.Event, len(h))
	for i, m := range h {
		ev, err := model.Encode(m.Event, model.Source{Stream: m.Stream, Revision: m.Revision, OccurredAt: m.OccurredAt})
		if err != nil {
			b.Fatal(err)
		}
		out[i] = ev
	}
	return out
}

// sinkKey is the main key an event's apply writes (its hash).
func sinkKey(root string, ev readmodel.Event) string {
	switch kind := ev.Args[0].(string); kind {
	case "PL", "PR", "SR":
		return root + "p:" + ev.Args[1].(string)
	case "FD":
		return root + "w:" + ev.Args[1].(string)
	default:
		return root + "o:" + ev.Args[1].(string)
	}
}

// platformGCPercent is stack.GCPercent (cmd/troupe/stack).
const platformGCPercent = 400

// BenchmarkRebuild measures a rebuild from Kafka into Redis (events/s),
// beside, in the same run, (a) a naive loop applying the same events one
// round trip each, and (b) the sink's limit: pipelined HSETs (16 per round
// trip on 8 connections, as redis-benchmark -P 16 would) of the keys those
// events write. It reports both ratios, and the CPU time per event the
// rebuild cost this process and redis-server (INFO cpu), which depends
// less on the machine's load than the rates do.
//
// It runs with the GC target the platform's commands set (GOGC 400 unless
// GOGC is given: stack.TuneGC in cmd/troupe, which this module cannot
// import), since a rebuild runs inside troupe up, troupe serve projections
// or troupe replay projection.
func BenchmarkRebuild(b *testing.B) {
	if _, set := os.LookupEnv("GOGC"); !set {
		defer debug.SetGCPercent(debug.SetGCPercent(platformGCPercent))
	}
	brokers, redisURL := benchEnv(b)
	e := newEnv(b, brokers, redisURL)
	h := scenario.History(scenario.Config{Orders: 20_000, Products: 50, Customers: 500, Seed: 9})
	for i := 0; i < len(h); i += 5000 {
		e.publish(h[i:min(i+5000, len(h))]...)
	}
	evs := encodeAll(b, h)
	svc, err := service.New(e.cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ResetTimer()
	var rebuild, naive, sink, cpu, redisCPU time.Duration
	naiveN := min(len(evs), 20_000)
	for i := 0; i < b.N; i++ {
		cpu0, rcpu0 := processCPU(), serverCPU(e.rdb)
		start := time.Now()
		if err := svc.Rebuild(ctx, nil); err != nil {
			b.Fatal(err)
		}
		rebuild += time.Since(start)
		cpu += processCPU() - cpu0
		redisCPU += serverCPU(e.rdb) - rcpu0

		m := model.New(testinfra.KeyPrefix(b))
		gen, _ := m.Namespace().Create(ctx, e.rdb, readmodel.NewGeneration())
		start = time.Now()
		for _, ev := range evs[:naiveN] {
			if _, err := m.Applier().Apply(ctx, e.rdb, gen, ev); err != nil {
				b.Fatal(err)
			}
		}
		naive += time.Since(start)
		_ = m.Namespace().Drop(ctx, e.rdb, gen)

		root := testinfra.KeyPrefix(b)
		start = time.Now()
		pipelinedHSET(b, e.rdb, root, evs)
		sink += time.Since(start)
		dropRoot(ctx, e.rdb, root)
	}
	b.StopTimer()
	n := float64(b.N)
	rb := float64(len(h)) * n / rebuild.Seconds()
	nv := float64(naiveN) * n / naive.Seconds()
	sk := float64(len(evs)) * n / sink.Seconds()
	b.ReportMetric(float64(len(h)), "events")
	b.ReportMetric(rb, "rebuild-ev/s")
	b.ReportMetric(nv, "naive-ev/s")
	b.ReportMetric(sk, "sink-ev/s")
	b.ReportMetric(rb/nv, "x-naive")
	b.ReportMetric(100*rb/sk, "%-of-sink")
	perEvent := func(d time.Duration) float64 { return float64(d.Microseconds()) / (float64(len(h)) * n) }
	b.ReportMetric(perEvent(cpu), "rebuild-cpu-µs/ev")
	b.ReportMetric(perEvent(redisCPU), "redis-cpu-µs/ev")
}

// serverCPU is the CPU time redis-server has used (INFO cpu), or 0 where
// the server does not say (miniredis).
func serverCPU(rdb *redis.Client) time.Duration {
	info, err := rdb.Info(context.Background(), "cpu").Result()
	if err != nil {
		return 0
	}
	var sec float64
	for _, line := range strings.Split(info, "\r\n") {
		k, v, _ := strings.Cut(line, ":")
		if k == "used_cpu_sys" || k == "used_cpu_user" {
			f, _ := strconv.ParseFloat(v, 64)
			sec += f
		}
	}
	return time.Duration(sec * float64(time.Second))
}

func pipelinedHSET(b *testing.B, rdb *redis.Client, root string, evs []readmodel.Event) {
	const conns, depth = 8, 16
	ctx := context.Background()
	var wg sync.WaitGroup
	for c := 0; c < conns; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for lo := c * depth; lo < len(evs); lo += conns * depth {
				pipe := rdb.Pipeline()
				for _, ev := range evs[lo:min(lo+depth, len(evs))] {
					pipe.HSet(ctx, sinkKey(root, ev), "f", ev.Revision)
				}
				if _, err := pipe.Exec(ctx); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func dropRoot(ctx context.Context, rdb *redis.Client, root string) {
	iter := rdb.Scan(ctx, 0, root+"*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if len(keys) > 0 {
		rdb.Unlink(ctx, keys...)
	}
}

// BenchmarkOrderQuery: GET /api/orders/{id} through the full echo stack
// (auth, consistency check, problem handling) beside a bare net/http
// handler doing the same Redis read and JSON encoding, both called
// in-process from parallel goroutines. Reports requests/s and p99 of each
// and the ratio.
func BenchmarkOrderQuery(b *testing.B) {
	_, redisURL := benchEnv(b)
	opts, _ := redis.ParseURL(redisURL)
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	ctx := context.Background()
	m := model.New(testinfra.KeyPrefix(b))
	gen, _ := m.Namespace().Create(ctx, rdb, readmodel.NewGeneration())
	h := scenario.History(scenario.Config{Orders: 200, Seed: 10})
	if _, err := m.Applier().Apply(ctx, rdb, gen, encodeAll(b, h)...); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = m.Namespace().Drop(ctx, rdb, gen) }()
	auth, _ := httpapi.NewAuth([]byte("0123456789abcdef0123456789abcdef"))
	tok, _ := auth.Issue(scenario.Customer(0), httpapi.RoleCustomer, time.Hour)

	svc, err := service.New(service.Config{Brokers: []string{"unused:9092"}, Redis: rdb, Auth: auth,
		KeyRoot: m.Namespace().Root})
	if err != nil {
		b.Fatal(err)
	}
	api := httpapi.New(httpapi.Config{})
	svc.Routes(api)
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o, err := m.Order(r.Context(), rdb, r.URL.Path[len("/api/orders/"):])
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(o)
	})
	path := "/api/orders/" + scenario.OrderID(0)
	run := func(hd http.Handler, n int) (perSec float64, p99 time.Duration) {
		const workers = 8
		lat := make([][]time.Duration, workers)
		var wg sync.WaitGroup
		start := time.Now()
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < n/workers; i++ {
					req := httptest.NewRequest(http.MethodGet, path, nil)
					req.Header.Set("Authorization", "Bearer "+tok)
					rec := httptest.NewRecorder()
					t0 := time.Now()
					hd.ServeHTTP(rec, req)
					lat[w] = append(lat[w], time.Since(t0))
					if rec.Code != http.StatusOK {
						b.Errorf("status %d: %s", rec.Code, rec.Body)
						return
					}
				}
			}()
		}
		wg.Wait()
		took := time.Since(start)
		var all []time.Duration
		for _, l := range lat {
			all = append(all, l...)
		}
		sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
		return float64(len(all)) / took.Seconds(), all[len(all)*99/100]
	}
	b.ResetTimer()
	var apiRate, bareRate float64
	var apiP99, bareP99 time.Duration
	for i := 0; i < b.N; i++ {
		r, p := run(bare, 20_000)
		bareRate, bareP99 = bareRate+r, max(bareP99, p)
		r, p = run(api, 20_000)
		apiRate, apiP99 = apiRate+r, max(apiP99, p)
	}
	n := float64(b.N)
	b.ReportMetric(apiRate/n, "api-req/s")
	b.ReportMetric(bareRate/n, "bare-req/s")
	b.ReportMetric(float64(apiP99.Microseconds()), "api-p99-µs")
	b.ReportMetric(float64(bareP99.Microseconds()), "bare-p99-µs")
	b.ReportMetric(100*apiRate/bareRate, "%-of-bare")
}
