package eventstore_test

import (
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

// BenchmarkLoad100k loads an aggregate whose stream holds 100,000 events,
// each iteration twice: folding the whole stream (the baseline) and from
// its snapshot. It reports both times and their ratio.
func BenchmarkLoad100k(b *testing.B) {
	const total = 100_000
	ctx := b.Context()
	c := newClient(b)
	id := uniqueID()
	plain := newRepo(b, c)
	snapshotted := newRepo(b, c, withSnapshots(1000, "v1"))
	stream := plain.Stream(id)

	// All but the last event go in raw, in batches; the last goes through
	// Update, which then writes the snapshot.
	reg := accountEvents()
	batch := make([]esdb.EventData, 0, 1000)
	flush := func(expected esdb.ExpectedRevision) {
		if _, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: expected}, batch...); err != nil {
			b.Fatal(err)
		}
		batch = batch[:0]
	}
	var expected esdb.ExpectedRevision = esdb.NoStream{}
	for i := range total - 1 {
		var ev any = moneyDeposited{Amount: 1}
		if i == 0 {
			ev = accountOpened{Owner: "bench"}
		}
		name, data, err := reg.Encode(ev)
		if err != nil {
			b.Fatal(err)
		}
		batch = append(batch, esdb.EventData{EventID: uuid.New(), EventType: name, ContentType: esdb.ContentTypeJson, Data: data})
		if len(batch) == cap(batch) {
			flush(expected)
			expected = esdb.Revision(uint64(i))
		}
	}
	flush(expected)
	if _, err := snapshotted.Update(ctx, id, deposit(1, "")); err != nil {
		b.Fatal(err)
	}

	var full, fromSnapshot time.Duration
	n := 0
	for b.Loop() {
		start := time.Now()
		want, rev, err := plain.Load(ctx, id)
		full += time.Since(start)
		if err != nil || rev != total-1 || want.applied != total {
			b.Fatalf("full load: revision %d, folded %d, %v", rev, want.applied, err)
		}
		start = time.Now()
		got, rev, err := snapshotted.Load(ctx, id)
		fromSnapshot += time.Since(start)
		if err != nil || rev != total-1 || got.applied != 0 || got.balance != want.balance {
			b.Fatalf("snapshot load: revision %d, folded %d, balance %d (want %d), %v", rev, got.applied, got.balance, want.balance, err)
		}
		n++
	}
	b.ReportMetric(full.Seconds()*1000/float64(n), "ms/full-load")
	b.ReportMetric(fromSnapshot.Seconds()*1000/float64(n), "ms/snapshot-load")
	b.ReportMetric(float64(total)*float64(n)/full.Seconds(), "events/s-folded")
	b.ReportMetric(float64(full)/float64(fromSnapshot), "x-snapshot-speedup")
	_ = eventstore.SnapshotStream // the snapshot lives in SnapshotStream(stream)
}
