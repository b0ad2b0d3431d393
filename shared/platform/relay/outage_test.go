package relay_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	esserver "github.com/troupe-dev/troupe/embedded/eventstore"
	"github.com/troupe-dev/troupe/shared/platform/messaging"
	"github.com/troupe-dev/troupe/shared/platform/relay"
	"github.com/troupe-dev/troupe/shared/platform/testinfra"
)

// TestRelaySurvivesKafkaOutage stops a dedicated broker for 10 s while
// events are appended and published: the relay waits, starts new producer
// sessions from its checkpoint, and once Kafka is back every event is there,
// in order per stream, and nothing was acknowledged behind a failure.
func TestRelaySurvivesKafkaOutage(t *testing.T) {
	t.Parallel()
	testinfra.ForEachRestartableKafka(t, func(t *testing.T, k testinfra.RestartableKafka) {
		t.Parallel()
		name := newContext(t)
		es := newClient(t, storeURL)
		w := newWriter(name, 8, 220, 120) // 1,760 events over about 15 s
		r, stop := runRelay(t, relay.Config{
			Context: name, EventStore: es, Brokers: k.Brokers(), Mapper: testMapper(name),
			MaxInFlight: 512, MaxBackoff: time.Second, Logger: quietLogger(),
		})

		writing := make(chan struct{})
		go func() {
			defer close(writing)
			w.run(t.Context(), es)
		}()
		waitFor(t, 30*time.Second, "first events published", func() bool { return r.Stats().Published > 50 })
		if err := k.Stop(); err != nil {
			t.Fatal(err)
		}
		stopped := r.Stats()
		time.Sleep(10 * time.Second)
		during := r.Stats()
		if err := k.Start(); err != nil {
			t.Fatal(err)
		}
		<-writing
		want, total, err := w.want()
		if err != nil {
			t.Fatal(err)
		}
		col := consumeWhenReady(t, k.Brokers(), messaging.TopicFor(name))
		recs := col.waitDistinct(t, total, 60*time.Second)
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		after := r.Stats()

		dups, problems := orderReport(recs, want)
		for _, p := range problems[:min(len(problems), 20)] {
			t.Error(p)
		}
		t.Logf("%d events, %d records, %d duplicates; during the outage %d published, %d failed, %d restarts; in all %d restarts; lag at the end of the outage %v",
			total, len(recs), dups, during.Published-stopped.Published, during.Failed, during.Restarts, after.Restarts, during.Lag)
		if after.Restarts == 0 {
			t.Error("no producer session was restarted: the outage did not reach the relay")
		}
		if after.OrderViolations != 0 {
			t.Errorf("%d order violations", after.OrderViolations)
		}
		if during.Lag < time.Second {
			t.Errorf("lag during the outage = %v, want the age of the stuck events", during.Lag)
		}
	})
}

// TestRelaySurvivesEventStoreRestart closes the event store under a running
// relay and starts it again on the same address and data: the subscription
// resubscribes from where it was, and every event is published once more
// or not at all, never lost.
func TestRelaySurvivesEventStoreRestart(t *testing.T) {
	t.Parallel()
	brokers := testinfra.KafkaBrokers(t)
	dir := t.TempDir()
	srv, err := esserver.Start(context.Background(), esserver.Config{DataDir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	addr, url := srv.Addr(), srv.URL()
	t.Cleanup(func() { _ = srv.Close() })

	name := newContext(t)
	es := newClient(t, url)
	r, stop := runRelay(t, relay.Config{Context: name, EventStore: es, Brokers: brokers, Mapper: testMapper(name), Logger: quietLogger()})
	first := newWriter(name, 4, 30, 1000)
	first.run(t.Context(), es)
	_, n, err := first.want()
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "first half published", func() bool { return r.Stats().Published >= uint64(n) })

	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	srv, err = esserver.Start(context.Background(), esserver.Config{Addr: addr, DataDir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}

	// The same streams, continued: revisions 30..59.
	want, _, _ := first.want()
	second := newWriter(name, 4, 30, 1000)
	ctx := t.Context()
	waitFor(t, 30*time.Second, "appends accepted again", func() bool {
		_, err := appendEvents(ctx, es, second.streams[0]+"-probe", esdb.Any{}, domainEvent{typ: typeNoted, data: `{}`})
		return err == nil
	})
	for rev := 30; rev < 60; rev++ {
		for _, s := range second.streams {
			typ := typeRepriced
			if rev%3 == 2 {
				typ = typeNoted
			}
			if _, err := appendEvents(ctx, es, s, esdb.Revision(uint64(rev-1)), domainEvent{typ, `{}`, metadataAt(time.Now())}); err != nil {
				t.Fatal(err)
			}
			if typ != typeNoted {
				want[s] = append(want[s], uint64(rev))
			}
		}
	}
	total := 0
	for _, revs := range want {
		total += len(revs)
	}
	col := consume(t, brokers, messaging.TopicFor(name))
	recs := col.waitDistinct(t, total, 30*time.Second)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	dups, problems := orderReport(recs, want)
	for _, p := range problems {
		t.Error(p)
	}
	t.Logf("%d events, %d duplicates across the event store restart", total, dups)
}
