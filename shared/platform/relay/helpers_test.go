package relay_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/IBM/sarama"
	"github.com/google/uuid"

	"github.com/troupe-dev/troupe/shared/platform/eventstore"
	"github.com/troupe-dev/troupe/shared/platform/messaging"
	"github.com/troupe-dev/troupe/shared/platform/relay"
)

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// testLogger logs warnings and errors through t.Log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func newClient(t testing.TB, url string) *esdb.Client {
	t.Helper()
	c, err := eventstore.Dial(url, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// newContext returns a context name of this test alone: its streams,
// topic and checkpoint are its own.
func newContext(t testing.TB) string {
	t.Helper()
	var b [5]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "t" + hex.EncodeToString(b[:])
}

// Domain event types of the test context. Noted is private.
const (
	typeListed   = "ProductListed"
	typeRepriced = "ProductRepriced"
	typeNoted    = "InternalNoteAdded"
)

// testMapper maps the test context's domain events: listed and repriced
// become integration events with the domain payload wrapped, noted stays
// private.
func testMapper(context string) relay.Mapper {
	return relay.MapperFunc(func(ev eventstore.RecordedEvent) (relay.Event, bool, error) {
		var name string
		switch ev.Type {
		case typeListed:
			name = "product_listed"
		case typeRepriced:
			name = "product_repriced"
		case typeNoted:
			return relay.Event{}, false, nil
		default:
			return relay.Event{}, false, fmt.Errorf("unknown domain event type %q", ev.Type)
		}
		return relay.Event{Type: context + "." + name + ".v1", Payload: integrationPayload(ev.Data)}, true, nil
	})
}

// integrationPayload is what testMapper publishes for domain data d.
func integrationPayload(d []byte) []byte { return []byte(`{"mapped":` + string(d) + `}`) }

// domainEvent is an event to append; zero metadata appends none.
type domainEvent struct {
	typ  string
	data string
	md   eventstore.Metadata
}

func metadataAt(at time.Time) eventstore.Metadata {
	return eventstore.Metadata{
		CorrelationID: uuid.NewString(),
		CausationID:   uuid.NewString(),
		Traceparent:   "00-" + strings.ReplaceAll(uuid.NewString(), "-", "") + "-b7ad6b7169203331-01",
		OccurredAt:    at.UTC(),
	}
}

// appendEvents appends evs to stream at the expected revision and returns
// the ids it gave them.
func appendEvents(ctx context.Context, c *esdb.Client, stream string, expected esdb.ExpectedRevision, evs ...domainEvent) ([]uuid.UUID, error) {
	data := make([]esdb.EventData, len(evs))
	ids := make([]uuid.UUID, len(evs))
	for i, e := range evs {
		ids[i] = uuid.New()
		var md []byte
		if e.md != (eventstore.Metadata{}) {
			var err error
			if md, err = json.Marshal(e.md); err != nil {
				return nil, err
			}
		}
		data[i] = esdb.EventData{EventID: ids[i], EventType: e.typ, ContentType: esdb.ContentTypeJson, Data: []byte(e.data), Metadata: md}
	}
	_, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: expected}, data...)
	return ids, err
}

// runRelay starts a relay for cfg and returns a function that stops it and
// returns Run's result.
func runRelay(t testing.TB, cfg relay.Config) (*relay.Relay, func() error) {
	t.Helper()
	r, err := relay.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(30 * time.Second):
				runErr = errors.New("relay did not stop within 30s")
			}
		})
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return r, stop
}

// record is a consumed Kafka message.
type record struct {
	partition int32
	offset    int64
	key       string
	value     []byte
	headers   map[string]string
	timestamp time.Time
}

func (r record) revision() uint64 {
	n, _ := strconv.ParseUint(r.headers[messaging.HeaderRevision], 10, 64)
	return n
}

// collector consumes every partition of a topic from the oldest offset.
type collector struct {
	mu   sync.Mutex
	recs []record
}

func consume(t testing.TB, brokers []string, topic string) *collector {
	t.Helper()
	cfg := messaging.NewSaramaConfig("relay-test-consumer")
	cfg.Consumer.Return.Errors = false
	consumer, err := sarama.NewConsumer(brokers, cfg)
	if err != nil {
		t.Fatalf("consumer: %v", err)
	}
	t.Cleanup(func() { _ = consumer.Close() })
	parts, err := consumer.Partitions(topic)
	if err != nil {
		t.Fatalf("partitions of %s: %v", topic, err)
	}
	c := &collector{}
	for _, p := range parts {
		// Right after the topic was created the leaders may not be known yet.
		var pc sarama.PartitionConsumer
		deadline := time.Now().Add(15 * time.Second)
		for pc, err = consumer.ConsumePartition(topic, p, sarama.OffsetOldest); err != nil; pc, err = consumer.ConsumePartition(topic, p, sarama.OffsetOldest) {
			if time.Now().After(deadline) {
				t.Fatalf("consume %s/%d: %v", topic, p, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		go func() {
			for m := range pc.Messages() {
				r := record{partition: m.Partition, offset: m.Offset, key: string(m.Key), value: m.Value,
					headers: map[string]string{}, timestamp: m.Timestamp}
				for _, h := range m.Headers {
					r.headers[string(h.Key)] = string(h.Value)
				}
				c.mu.Lock()
				c.recs = append(c.recs, r)
				c.mu.Unlock()
			}
		}()
	}
	return c
}

func (c *collector) snapshot() []record {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.recs)
}

// waitDistinct waits until the topic holds want distinct (stream, revision)
// pairs and returns what was consumed by then.
func (c *collector) waitDistinct(t testing.TB, want int, timeout time.Duration) []record {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		recs := c.snapshot()
		n := distinct(recs)
		if n >= want {
			return recs
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %d distinct events of %d on Kafka (%d records)", timeout, n, want, len(recs))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func distinct(recs []record) int {
	seen := map[string]struct{}{}
	for _, r := range recs {
		seen[r.key+"@"+r.headers[messaging.HeaderRevision]] = struct{}{}
	}
	return len(seen)
}

// orderReport checks the records of each stream, in partition order,
// against the revisions the stream should have published (ascending):
// every one present, the first appearance of each in revision order (a
// repeat of an earlier one is a duplicate, counted). It returns the
// duplicates and the problems found.
func orderReport(recs []record, want map[string][]uint64) (dups int, problems []string) {
	recs = slices.Clone(recs)
	slices.SortFunc(recs, func(a, b record) int {
		if a.partition != b.partition {
			return int(a.partition - b.partition)
		}
		return int(a.offset - b.offset)
	})
	next := map[string]int{} // index into want[stream] of the next new revision
	partitionOf := map[string]int32{}
	for _, r := range recs {
		revs, ok := want[r.key]
		if !ok {
			problems = append(problems, fmt.Sprintf("unexpected stream %q", r.key))
			continue
		}
		if p, ok := partitionOf[r.key]; ok && p != r.partition {
			problems = append(problems, fmt.Sprintf("stream %s in partitions %d and %d", r.key, p, r.partition))
		}
		partitionOf[r.key] = r.partition
		rev := r.revision()
		i := next[r.key]
		switch {
		case i < len(revs) && rev == revs[i]:
			next[r.key] = i + 1
		case slices.Contains(revs[:i], rev):
			dups++
		default:
			exp := "nothing more"
			if i < len(revs) {
				exp = strconv.FormatUint(revs[i], 10)
			}
			problems = append(problems, fmt.Sprintf("%s: revision %d first appears where %s was due (partition %d offset %d)",
				r.key, rev, exp, r.partition, r.offset))
		}
	}
	for s, revs := range want {
		if next[s] != len(revs) {
			problems = append(problems, fmt.Sprintf("%s: %d of %d revisions published", s, next[s], len(revs)))
		}
	}
	return dups, problems
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
