package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	esserver "github.com/troupe-dev/troupe/embedded/eventstore"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

// BenchmarkStreamsLs100k lists the streams of an embedded store holding
// 100,000 events in 10,000 streams, each iteration twice: the bare
// backwards scan of $all that `streams ls` rests on (the baseline), and
// `streams ls` itself. It reports both times and their ratio.
func BenchmarkStreamsLs100k(b *testing.B) {
	const streams, perStream = 10_000, 10
	ctx := b.Context()
	srv, err := esserver.Start(ctx, esserver.Config{DataDir: b.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	client, err := eventstore.Dial(srv.URL(), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()

	data := []byte(`{"OrderID":"6d5f2e54-404b-4151-b613-bce4d8b5f5c6","CustomerID":"alice","TotalCents":500,"Currency":"EUR"}`)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for s := range streams {
		g.Go(func() error {
			batch := make([]esdb.EventData, perStream)
			for i := range batch {
				batch[i] = esdb.EventData{EventID: uuid.New(), EventType: "bench.event", ContentType: esdb.ContentTypeJson, Data: data}
			}
			_, err := client.AppendToStream(gctx, fmt.Sprintf("bench.stream-%05d", s), esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, batch...)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}

	var scan, ls time.Duration
	n := 0
	for b.Loop() {
		start := time.Now()
		events, err := scanAll(ctx, client)
		scan += time.Since(start)
		if err != nil || events < streams*perStream {
			b.Fatalf("scan: %d events, %v", events, err)
		}
		start = time.Now()
		list, err := listStreams(ctx, client, "")
		ls += time.Since(start)
		if err != nil || len(list) != streams {
			b.Fatalf("ls: %d streams, %v", len(list), err)
		}
		n++
	}
	b.ReportMetric(scan.Seconds()*1000/float64(n), "ms/scan")
	b.ReportMetric(ls.Seconds()*1000/float64(n), "ms/ls")
	b.ReportMetric(float64(streams*perStream)*float64(n)/ls.Seconds(), "events/s-ls")
	b.ReportMetric(float64(ls)/float64(scan), "x-ls-over-scan")
}

// scanAll reads $all backwards and counts its events, doing nothing else.
func scanAll(ctx context.Context, client *esdb.Client) (int, error) {
	rs, err := client.ReadAll(ctx, esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}}, math.MaxUint64)
	if err != nil {
		return 0, err
	}
	defer rs.Close()
	n := 0
	for {
		_, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n++
	}
}
