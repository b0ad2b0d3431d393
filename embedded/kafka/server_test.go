package kafka_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/troupe-dev/troupe/embedded/kafka"
)

// TestRestartKeepsRecordsAndOffsets: with a data dir, a topic, its records
// and a group's committed offset survive Close and Start on the same dir.
func TestRestartKeepsRecordsAndOffsets(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()

	srv, err := kafka.Start(ctx, kafka.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(srv.Brokers()...), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"a", "b", "c"} {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Key: []byte("k"), Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", v, err)
		}
	}
	adm := kadm.NewClient(cl)
	offsets := kadm.Offsets{}
	first := consumeAll(ctx, t, srv.Brokers(), 3)
	// Commit after the second record: the group resumes at the third.
	offsets.Add(kadm.Offset{Topic: "t", Partition: first[1].Partition, At: first[1].Offset + 1, LeaderEpoch: -1})
	if _, err := adm.CommitOffsets(ctx, "g", offsets); err != nil {
		t.Fatalf("commit: %v", err)
	}
	cl.Close()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}

	srv2, err := kafka.Start(ctx, kafka.Config{DataDir: dir})
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	defer srv2.Close()
	again := consumeAll(ctx, t, srv2.Brokers(), 3)
	for i, r := range again {
		if string(r.Value) != string(first[i].Value) {
			t.Fatalf("record %d after restart = %q, want %q", i, r.Value, first[i].Value)
		}
	}
	cl2, err := kgo.NewClient(kgo.SeedBrokers(srv2.Brokers()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl2.Close()
	got, err := kadm.NewClient(cl2).FetchOffsets(ctx, "g")
	if err != nil {
		t.Fatalf("fetch offsets: %v", err)
	}
	o, ok := got.Lookup("t", first[1].Partition)
	if !ok || o.At != first[1].Offset+1 {
		t.Fatalf("committed offset after restart = %+v (found %v), want %d", o, ok, first[1].Offset+1)
	}
}

func consumeAll(ctx context.Context, t *testing.T, brokers []string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics("t"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", len(out), n, err)
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

// TestTakenPortNamesTheAddress: a busy port fails at once, naming the
// address and the flag to change.
func TestTakenPortNamesTheAddress(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = kafka.Start(context.Background(), kafka.Config{Addr: ln.Addr().String()})
	if err == nil || !strings.Contains(err.Error(), ln.Addr().String()) || !strings.Contains(err.Error(), "--kafka-addr") {
		t.Fatalf("Start on a taken port: err = %v, want one naming %s and --kafka-addr", err, ln.Addr())
	}
}

// TestNonLoopbackRefused: the embedded broker never listens beyond loopback.
func TestNonLoopbackRefused(t *testing.T) {
	t.Parallel()
	if _, err := kafka.Start(context.Background(), kafka.Config{Addr: "0.0.0.0:0"}); err == nil {
		t.Fatal("Start on 0.0.0.0 succeeded, want an error")
	}
}
