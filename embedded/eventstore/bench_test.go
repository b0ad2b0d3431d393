package eventstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/serverfeatures"
	api "github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/cockroachdb/pebble/v2"
	"github.com/google/uuid"
	"google.golang.org/grpc"
)

// Every benchmark here runs its baseline in the same process and reports
// both rates and their ratio (ours / baseline):
//
//	go test -run '^$' -bench . -benchtime 3s ./eventstore/

const benchPayload = `{"orderId":"7f1c2f43-8a63-4a55-9a0e-4d1b2b7f9c10","sku":"SKU-123","quantity":3,"priceCents":1299}`

// runConcurrently calls op n times in total from c goroutines and returns
// the elapsed time.
func runConcurrently(b *testing.B, n, c int, op func(worker, i int) error) time.Duration {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, c)
	start := time.Now()
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := op(w, i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	d := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	return d
}

// pebbleSyncRate is the baseline: the storage engine's own durable
// single-key writes (Set with pebble.Sync) from c goroutines.
func pebbleSyncRate(b *testing.B, n, c int, batch int) float64 {
	b.Helper()
	db, err := pebble.Open(b.TempDir(), &pebble.Options{Logger: quietLogger{testLogger}})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var seq atomic.Uint64
	d := runConcurrently(b, n, c, func(_, _ int) error {
		bt := db.NewBatch()
		for j := 0; j < batch; j++ {
			_ = bt.Set(binary.BigEndian.AppendUint64([]byte{'k'}, seq.Add(1)), []byte(benchPayload), nil)
		}
		return bt.Commit(pebble.Sync)
	})
	return float64(n*batch) / d.Seconds()
}

func benchmarkAppend(b *testing.B, concurrency, batch int) {
	s := startServer(b, Config{})
	c := newClient(b, s.URL())
	ctx := context.Background()
	streams := make([]string, concurrency)
	next := make([]uint64, concurrency)
	for i := range streams {
		streams[i] = newStream("bench")
	}
	b.ResetTimer()
	d := runConcurrently(b, b.N, concurrency, func(w, _ int) error {
		batchEvs := make([]esdb.EventData, batch)
		for j := range batchEvs {
			batchEvs[j] = esdb.EventData{EventID: uuid.New(), EventType: "bench.appended", ContentType: esdb.ContentTypeJson, Data: []byte(benchPayload)}
		}
		var exp esdb.ExpectedRevision = esdb.NoStream{}
		if next[w] > 0 {
			exp = esdb.Revision(next[w] - 1)
		}
		_, err := c.AppendToStream(ctx, streams[w], esdb.AppendToStreamOptions{ExpectedRevision: exp}, batchEvs...)
		next[w] += uint64(batch)
		return err
	})
	b.StopTimer()
	ours := float64(b.N*batch) / d.Seconds()
	base := pebbleSyncRate(b, b.N, concurrency, batch)
	unit := "appends/s"
	if batch > 1 {
		unit = "events/s"
	}
	b.ReportMetric(ours, unit)
	b.ReportMetric(base, "pebble-"+unit)
	b.ReportMetric(ours/base, "ratio")
}

// BenchmarkAppendDurable measures acknowledged (fsynced) single-event
// appends through the client, each goroutine on its own stream with exact
// expected revisions, against Pebble's Set+Sync at the same concurrency.
func BenchmarkAppendDurable(b *testing.B) {
	for _, c := range []int{1, 64} {
		b.Run(fmt.Sprintf("concurrency=%d", c), func(b *testing.B) { benchmarkAppend(b, c, 1) })
	}
}

// BenchmarkAppendBatch100 measures 100-event appends (events/s) against a
// 100-key Pebble batch committed with Sync.
func BenchmarkAppendBatch100(b *testing.B) {
	for _, c := range []int{1, 8} {
		b.Run(fmt.Sprintf("concurrency=%d", c), func(b *testing.B) { benchmarkAppend(b, c, 100) })
	}
}

// readFixture is a store holding benchEvents events across 100 streams.
const benchEvents = 200_000

func readFixture(b *testing.B) (*Server, *esdb.Client) {
	b.Helper()
	s := startServer(b, Config{})
	c := newClient(b, s.URL())
	ctx := context.Background()
	const perAppend = 1000
	_ = runConcurrently(b, benchEvents/perAppend, 4, func(_, i int) error {
		evs := make([]esdb.EventData, perAppend)
		for j := range evs {
			evs[j] = esdb.EventData{EventID: uuid.New(), EventType: "bench.appended", ContentType: esdb.ContentTypeJson, Data: []byte(benchPayload)}
		}
		_, err := c.AppendToStream(ctx, fmt.Sprintf("read-%d", i%100), esdb.AppendToStreamOptions{}, evs...)
		return err
	})
	return s, c
}

// pebbleScanRate is the baseline for reads: iterating the $all key range in
// Pebble and decoding each record header, with no gRPC or client.
func pebbleScanRate(b *testing.B, s *Server, rounds int) float64 {
	b.Helper()
	start := time.Now()
	n := 0
	for r := 0; r < rounds; r++ {
		err := s.store.scanAll(1, s.store.durable.Load(), false, func(pos uint64, rec record) error {
			n++
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return float64(n) / time.Since(start).Seconds()
}

// BenchmarkReadAll reads the whole $all log through the client.
func BenchmarkReadAll(b *testing.B) {
	s, c := readFixture(b)
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	n := 0
	for i := 0; i < b.N; i++ {
		rs, err := c.ReadAll(ctx, esdb.ReadAllOptions{}, benchEvents*2)
		if err != nil {
			b.Fatal(err)
		}
		for {
			_, err := rs.Recv()
			if err != nil {
				break
			}
			n++
		}
		rs.Close()
	}
	d := time.Since(start)
	b.StopTimer()
	if n != b.N*benchEvents {
		b.Fatalf("read %d events, want %d", n, b.N*benchEvents)
	}
	ours := float64(n) / d.Seconds()
	base := pebbleScanRate(b, s, b.N)
	b.ReportMetric(ours, "events/s")
	b.ReportMetric(base, "pebble-scan-events/s")
	b.ReportMetric(ours/base, "ratio")
}

// BenchmarkCatchUpSubscription subscribes to $all from the start and
// receives every historical event until caught up.
func BenchmarkCatchUpSubscription(b *testing.B) {
	s, c := readFixture(b)
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	n := 0
	for i := 0; i < b.N; i++ {
		sub, err := c.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{From: esdb.Start{}})
		if err != nil {
			b.Fatal(err)
		}
		for {
			m := sub.Recv()
			if m.SubscriptionDropped != nil {
				b.Fatal(m.SubscriptionDropped.Error)
			}
			if m.CaughtUp != nil {
				break
			}
			if m.EventAppeared != nil {
				n++
			}
		}
		_ = sub.Close()
	}
	d := time.Since(start)
	b.StopTimer()
	if n != b.N*benchEvents {
		b.Fatalf("received %d events, want %d", n, b.N*benchEvents)
	}
	ours := float64(n) / d.Seconds()
	base := pebbleScanRate(b, s, b.N)
	b.ReportMetric(ours, "events/s")
	b.ReportMetric(base, "pebble-scan-events/s")
	b.ReportMetric(ours/base, "ratio")
}

// BenchmarkStoreAppend64 measures the store alone (no gRPC, no client):
// single-event appends from 64 goroutines against Pebble's Set+Sync at the
// same concurrency. It separates the storage path from the protocol cost.
func BenchmarkStoreAppend64(b *testing.B) {
	s := startServer(b, Config{})
	streams := make([]string, 64)
	for i := range streams {
		streams[i] = newStream("direct")
	}
	b.ResetTimer()
	d := runConcurrently(b, b.N, 64, func(w, _ int) error {
		p := encodeProposed(streams[w], uuid.New(), "bench.appended", "application/json", []byte(benchPayload), nil, nowTicks())
		res, err := s.store.submit(context.Background(), &writeReq{op: opAppend, stream: streams[w], expect: expectation{kind: expectAny}, events: []proposed{p}})
		if err == nil {
			err = res.err
		}
		return err
	})
	b.StopTimer()
	ours := float64(b.N) / d.Seconds()
	base := pebbleSyncRate(b, b.N, 64, 1)
	b.ReportMetric(ours, "appends/s")
	b.ReportMetric(base, "pebble-appends/s")
	b.ReportMetric(ours/base, "ratio")
}

// nullStreams acknowledges every append without storing it.
type nullStreams struct{ api.UnimplementedStreamsServer }

func (nullStreams) Append(srv api.Streams_AppendServer) error {
	for {
		if _, err := srv.Recv(); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return err
		}
	}
	return srv.SendAndClose(&api.AppendResp{Result: &api.AppendResp_Success_{Success: &api.AppendResp_Success{
		CurrentRevisionOption: &api.AppendResp_Success_CurrentRevision{CurrentRevision: 0},
		PositionOption:        &api.AppendResp_Success_Position{Position: &api.AppendResp_Position{CommitPosition: 1, PreparePosition: 1}},
	}}})
}

// BenchmarkAppendProtocolFloor64 puts the v4.2.0 client and gRPC alone
// against the event store at concurrency 64: a server that acknowledges
// appends without storing anything is the ceiling for any server on this
// machine, so ratio = event store / that ceiling.
func BenchmarkAppendProtocolFloor64(b *testing.B) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	g := grpc.NewServer(grpc.NumStreamWorkers(streamWorkers))
	api.RegisterStreamsServer(g, nullStreams{})
	serverfeatures.RegisterServerFeaturesServer(g, featuresServer{})
	go func() { _ = g.Serve(lis) }()
	defer g.Stop()
	null := newClient(b, "esdb://"+lis.Addr().String()+"?tls=false")
	s := startServer(b, Config{})
	c := newClient(b, s.URL())
	streams := make([]string, 64)
	for i := range streams {
		streams[i] = newStream("floor")
	}
	ctx := context.Background()
	b.ResetTimer()
	dNull := runConcurrently(b, b.N, 64, func(w, _ int) error {
		_, err := null.AppendToStream(ctx, streams[w], esdb.AppendToStreamOptions{}, jsonEvent("bench.appended", benchPayload))
		return err
	})
	dOurs := runConcurrently(b, b.N, 64, func(w, _ int) error {
		_, err := c.AppendToStream(ctx, streams[w], esdb.AppendToStreamOptions{}, jsonEvent("bench.appended", benchPayload))
		return err
	})
	b.StopTimer()
	ours, ceiling := float64(b.N)/dOurs.Seconds(), float64(b.N)/dNull.Seconds()
	b.ReportMetric(ours, "appends/s")
	b.ReportMetric(ceiling, "null-server-appends/s")
	b.ReportMetric(ours/ceiling, "ratio")
}

// BenchmarkReadStream reads one 100,000-event stream forwards through the
// client, against the same work in Pebble alone (walking the stream's
// index and fetching each event by position).
func BenchmarkReadStream(b *testing.B) {
	s := startServer(b, Config{})
	c := newClient(b, s.URL())
	ctx := context.Background()
	const total, perAppend = 100_000, 1000
	stream := newStream("long")
	for i := 0; i < total/perAppend; i++ {
		evs := make([]esdb.EventData, perAppend)
		for j := range evs {
			evs[j] = esdb.EventData{EventID: uuid.New(), EventType: "bench.appended", ContentType: esdb.ContentTypeJson, Data: []byte(benchPayload)}
		}
		if _, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{}, evs...); err != nil {
			b.Fatal(err)
		}
		// Interleave another stream, as in a real store.
		if _, err := c.AppendToStream(ctx, newStream("noise"), esdb.AppendToStreamOptions{}, jsonEvent("x", "{}")); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	start := time.Now()
	n := 0
	for i := 0; i < b.N; i++ {
		evs, err := collect(c.ReadStream(ctx, stream, esdb.ReadStreamOptions{}, total))
		if err != nil {
			b.Fatal(err)
		}
		n += len(evs)
	}
	d := time.Since(start)
	b.StopTimer()
	if n != b.N*total {
		b.Fatalf("read %d events, want %d", n, b.N*total)
	}
	start = time.Now()
	m := 0
	for i := 0; i < b.N; i++ {
		err := s.store.scanStream(stream, 0, total-1, false, s.store.durable.Load(), func(int64, uint64, record) error {
			m++
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	base := float64(m) / time.Since(start).Seconds()
	ours := float64(n) / d.Seconds()
	b.ReportMetric(ours, "events/s")
	b.ReportMetric(base, "pebble-events/s")
	b.ReportMetric(ours/base, "ratio")
}

// Short reads: the saga's loads read a few events after a revision the
// client has cached, or nothing new, or the last event of a snapshot
// stream, or a stream that does not exist yet, from a store holding many
// streams.
const (
	shortStreams   = 10_000
	shortStreamLen = 5
	// Then shortNoise events in one stream push those out of the recent
	// events kept in memory, and shortRecent streams of shortStreamLen
	// events are written last, as the saga reads what was just written.
	shortNoise  = 33_000 // over 2 * recentSlots, in appends of 1000
	shortRecent = 1000
)

// discardRead is a Read stream that counts and drops what is sent.
type discardRead struct {
	grpc.ServerStream
	sent int
}

func (d *discardRead) Send(*api.ReadResp) error { d.sent++; return nil }
func (d *discardRead) SendMsg(any) error        { d.sent++; return nil }

// shortFixture fills a server's store with shortStreams streams of
// shortStreamLen events (no metadata), interleaved as concurrent writers
// leave them, then shortNoise events, then shortRecent streams, and flushes
// Pebble so that reads come from sstables or the recent events. It returns
// the server, the first streams and the recent ones.
func shortFixture(b *testing.B, cacheSize int64) (*Server, []string, []string) {
	b.Helper()
	s := startServer(b, Config{CacheSize: cacheSize})
	fill := func(names []string, prefix string, perStream, perAppend int) {
		for i := range names {
			names[i] = newStream(prefix)
		}
		_ = runConcurrently(b, len(names)*perStream/perAppend, 64, func(_, i int) error {
			name := names[i%len(names)]
			evs := make([]proposed, perAppend)
			for j := range evs {
				evs[j] = encodeProposed(name, uuid.New(), "bench.appended", "application/json", []byte(benchPayload), nil, nowTicks())
			}
			res, err := s.store.submit(context.Background(), &writeReq{op: opAppend, stream: name, expect: expectation{kind: expectAny}, events: evs})
			if err == nil {
				err = res.err
			}
			return err
		})
	}
	old, noise, recent := make([]string, shortStreams), make([]string, 1), make([]string, shortRecent)
	fill(old, "short", shortStreamLen, 1)
	fill(noise, "noise", shortNoise, 1000)
	fill(recent, "recent", shortStreamLen, 1)
	if err := s.store.db.Flush(); err != nil {
		b.Fatal(err)
	}
	if want := uint64((shortStreams+shortRecent)*shortStreamLen + shortNoise); s.store.durable.Load() != want {
		b.Fatalf("the fixture holds %d events, want %d", s.store.durable.Load(), want)
	}
	return s, old, recent
}

// readFrom returns the options of a read forwards from revision from, or
// backwards from the end if from < 0.
func readFrom(from int64) (*api.ReadReq_Options_StreamOptions, bool) {
	if from < 0 {
		return &api.ReadReq_Options_StreamOptions{RevisionOption: &api.ReadReq_Options_StreamOptions_End{}}, true
	}
	return &api.ReadReq_Options_StreamOptions{RevisionOption: &api.ReadReq_Options_StreamOptions_Revision{Revision: uint64(from)}}, false
}

// BenchmarkReadStreamShort measures short stream reads served by the store
// (no gRPC, no client: the stream's messages are built and dropped) among
// 10,000 five-event streams, against the previous read path in the same
// process (old-ns/read) and a single Pebble Get of one event record
// (pebble-get-ns), with Pebble's former default 8 MiB block cache and with
// the event store's default. Cases: forward-1to3 reads 1 to 3 events after
// a revision, recent-1to3 the same from streams written last (their events
// still in memory), caught-up reads forwards past the last event, last
// reads backwards from the end with count 1 (a snapshot load), missing
// reads one of 10,000 streams that do not exist, new a stream that does not
// exist and was never read before (a new aggregate's first load).
func BenchmarkReadStreamShort(b *testing.B) {
	type readCase struct {
		name string
		// read returns the stream, the revision to read forwards from (-1:
		// backwards from the end), the count and the messages expected.
		read   func(names []string, i int) (string, int64, uint64, int)
		recent bool // reads the streams written last
	}
	forward := func(names []string, i int) (string, int64, uint64, int) {
		k := 1 + i%3
		return names[(i*7919)%len(names)], int64(shortStreamLen - k), 100, k
	}
	cases := []readCase{
		{"forward-1to3", forward, false},
		{"recent-1to3", forward, true},
		{"caught-up", func(names []string, i int) (string, int64, uint64, int) {
			return names[(i*7919)%len(names)], shortStreamLen, 100, 0
		}, false},
		{"last", func(names []string, i int) (string, int64, uint64, int) {
			return names[(i*7919)%len(names)], -1, 1, 1
		}, false},
		{"missing", func(names []string, i int) (string, int64, uint64, int) {
			return "missing-" + strconv.Itoa(i%shortStreams), 0, 100, 1
		}, false},
		{"new", func(names []string, i int) (string, int64, uint64, int) {
			return "new-" + strconv.Itoa(i), 0, 100, 1
		}, false},
	}
	for _, cache := range []int64{8 << 20, DefaultCacheSize} {
		b.Run(fmt.Sprintf("cache=%dMiB", cache>>20), func(b *testing.B) {
			s, old, recent := shortFixture(b, cache)
			for _, rc := range cases {
				b.Run(rc.name, func(b *testing.B) {
					names := old
					if rc.recent {
						names = recent
					}
					ours := func(i int) error {
						name, from, count, want := rc.read(names, i)
						so, backwards := readFrom(from)
						d := &discardRead{}
						if err := s.readStream(&sender{srv: d}, name, so, backwards, count); err != nil {
							return err
						}
						if d.sent != want {
							return fmt.Errorf("read %s from %d: %d messages, want %d", name, from, d.sent, want)
						}
						return nil
					}
					old := func(i int) error {
						name, from, count, want := rc.read(names, i)
						so, backwards := readFrom(from)
						d := &discardRead{}
						if err := referenceReadStream(s.store, &sender{srv: d}, name, so, backwards, count); err != nil {
							return err
						}
						if d.sent != want {
							return fmt.Errorf("old read %s from %d: %d messages, want %d", name, from, d.sent, want)
						}
						return nil
					}
					// Both paths see every stream once before timing, so
					// neither pays for the other's cache misses.
					for i := 0; i < len(names); i++ {
						if err := errors.Join(ours(i), old(i)); err != nil {
							b.Fatal(err)
						}
					}
					// Timed reads go on from there (new streams stay new).
					first := len(names)
					b.ResetTimer()
					start := time.Now()
					for i := first; i < first+b.N; i++ {
						if err := ours(i); err != nil {
							b.Fatal(err)
						}
					}
					dOurs := time.Since(start)
					start = time.Now()
					for i := first; i < first+b.N; i++ {
						if err := old(i); err != nil {
							b.Fatal(err)
						}
					}
					dOld := time.Since(start)
					start = time.Now()
					last := s.store.durable.Load()
					for i := 0; i < b.N; i++ {
						v, closer, err := s.store.db.Get(eventKey(1 + uint64(i*7919)%last))
						if err != nil || len(v) == 0 {
							b.Fatal(err)
						}
						_ = closer.Close()
					}
					dGet := time.Since(start)
					b.StopTimer()
					oursNs := float64(dOurs.Nanoseconds()) / float64(b.N)
					oldNs := float64(dOld.Nanoseconds()) / float64(b.N)
					b.ReportMetric(oursNs, "ns/read")
					b.ReportMetric(oldNs, "old-ns/read")
					b.ReportMetric(float64(dGet.Nanoseconds())/float64(b.N), "pebble-get-ns")
					b.ReportMetric(oursNs/oldNs, "ratio")
					next := first + b.N
					b.ReportMetric(testing.AllocsPerRun(100, func() { _ = ours(next); next++ }), "allocs/read")
					b.ReportMetric(testing.AllocsPerRun(100, func() { _ = old(next); next++ }), "old-allocs/read")
				})
			}
		})
	}
}
