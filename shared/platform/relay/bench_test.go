package relay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/IBM/sarama"
	"github.com/google/uuid"

	"github.com/troupe-dev/troupe/shared/platform/eventstore"
	"github.com/troupe-dev/troupe/shared/platform/messaging"
	"github.com/troupe-dev/troupe/shared/platform/relay"
	"github.com/troupe-dev/troupe/shared/platform/testinfra"
)

// benchStreams is how many streams the benchmark's events are spread over.
const benchStreams = 1000

// BenchmarkRelay measures the relay publishing b.N stored events (catching
// up on history, the embedded event store in this process) beside its
// baseline in the same run: a bare sarama AsyncProducer with the same
// configuration publishing the same records (key, value, headers),
// prepared in memory beforehand, to the same broker. It reports both rates
// and the ratio, and, to explain the gap, the rate at which the
// eventstore Subscription alone delivers the same events (no Kafka), the
// process CPU time per event of each phase (the in-process event store's
// included) and the whole machine's (the broker's included, and whatever
// else runs there). The mapper passes the payload through, so the
// figures are the relay's own cost; a context's mapping (JSON decode and
// encode) comes on top. Run it with a fixed count, e.g.
// -benchtime=200000x, against real Kafka (TROUPE_TEST_KAFKA_BROKERS) for
// figures that mean anything.
func BenchmarkRelay(b *testing.B) {
	brokers := testinfra.KafkaBrokers(b)
	es := newClient(b, storeURL)
	name := newContext(b)
	events := appendBenchEvents(b, es, name, b.N)
	cfg := messaging.NewSaramaConfig("relay-bench")

	// Baseline: the same records, built beforehand, through a bare producer.
	baseTopic := testinfra.Topic(b, "relay-bench-baseline")
	if err := messaging.EnsureTopics(brokers, cfg, baseTopic, messaging.TopicFor(name)); err != nil {
		b.Fatal(err)
	}
	msgs := make([]*sarama.ProducerMessage, len(events))
	for i, ev := range events {
		msgs[i] = baselineMessage(baseTopic, ev)
	}
	b.ResetTimer()
	cpu0, sys0 := cpuTime(), machineCPU()
	baseline := bareProducer(b, brokers, cfg, msgs)
	baselineCPU, baselineSys := cpuTime()-cpu0, machineCPU()-sys0
	cpu0 = cpuTime()
	read := readOnly(b, es, name)
	readCPU := cpuTime() - cpu0

	// The relay, from an empty checkpoint to the last event acknowledged.
	r, err := relay.New(relay.Config{
		Context: name, EventStore: es, Brokers: brokers, Logger: quietLogger(),
		Mapper: relay.MapperFunc(func(ev eventstore.RecordedEvent) (relay.Event, bool, error) {
			return relay.Event{Type: name + ".product_listed.v1", Payload: ev.Data}, true, nil
		}),
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	cpu0, sys0 = cpuTime(), machineCPU()
	start := time.Now()
	go func() { done <- r.Run(ctx) }()
	for r.Stats().Published < uint64(b.N) {
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	relayCPU, relaySys := cpuTime()-cpu0, machineCPU()-sys0
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}

	relayRate := float64(b.N) / elapsed.Seconds()
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N), "ns/op")
	b.ReportMetric(relayRate, "events/s")
	b.ReportMetric(baseline, "baseline-events/s")
	b.ReportMetric(100*relayRate/baseline, "%-of-baseline")
	b.ReportMetric(read, "read-only-events/s")
	perEvent := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(b.N) }
	b.ReportMetric(perEvent(relayCPU), "cpu-µs/event")
	b.ReportMetric(perEvent(baselineCPU), "baseline-cpu-µs/event")
	b.ReportMetric(perEvent(readCPU), "read-only-cpu-µs/event")
	if relaySys > 0 {
		b.ReportMetric(perEvent(relaySys), "machine-cpu-µs/event")
		b.ReportMetric(perEvent(baselineSys), "baseline-machine-cpu-µs/event")
	}
}

// machineCPU is the CPU time the whole machine has spent busy (Kafka's
// broker included, other work too), from /proc/stat; 0 where there is none.
func machineCPU() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0
	}
	var ticks int64
	for i, v := range f[1:8] { // user nice system idle iowait irq softirq
		if i == 3 || i == 4 { // idle and iowait are not busy
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// readOnly returns the rate at which an eventstore Subscription with a
// handler that does nothing delivers the context's events: the ceiling the
// event store and its client put on the relay.
func readOnly(b *testing.B, es *esdb.Client, name string) float64 {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	sub, err := eventstore.NewSubscription(es, eventstore.SubscriptionConfig{
		Name:        "bench-read-" + name,
		Filter:      &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: []string{name + "."}},
		Checkpoints: discardCheckpoints{},
		Logger:      quietLogger(),
		Handler: func(context.Context, eventstore.RecordedEvent) error {
			if n++; n == b.N {
				cancel()
			}
			return nil
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if err := sub.Run(ctx); err != nil {
		b.Fatal(err)
	}
	return float64(n) / time.Since(start).Seconds()
}

// discardCheckpoints starts from the beginning and keeps nothing.
type discardCheckpoints struct{}

func (discardCheckpoints) Load(context.Context, string) (esdb.Position, bool, error) {
	return esdb.Position{}, false, nil
}
func (discardCheckpoints) Save(context.Context, string, esdb.Position) error { return nil }

// cpuTime is the CPU time this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// bareProducer publishes msgs and returns the rate at which Kafka
// acknowledged them.
func bareProducer(b *testing.B, brokers []string, cfg *sarama.Config, msgs []*sarama.ProducerMessage) float64 {
	b.Helper()
	p, err := sarama.NewAsyncProducer(brokers, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	failed := 0
	start := time.Now()
	go func() {
		defer wg.Done()
		for range msgs {
			select {
			case <-p.Successes():
			case <-p.Errors():
				failed++
			}
		}
	}()
	for _, m := range msgs {
		p.Input() <- m
	}
	wg.Wait()
	elapsed := time.Since(start)
	if failed > 0 {
		b.Fatalf("baseline: %d of %d failed", failed, len(msgs))
	}
	return float64(len(msgs)) / elapsed.Seconds()
}

// benchEvent is what the benchmark appended, as the baseline needs it.
type benchEvent struct {
	id     uuid.UUID
	stream string
	rev    uint64
	data   []byte
	md     eventstore.Metadata
}

// appendBenchEvents appends n events spread over benchStreams streams of
// the context, concurrently, and returns them.
func appendBenchEvents(b *testing.B, es *esdb.Client, ctxName string, n int) []benchEvent {
	b.Helper()
	perStream := make([][]benchEvent, benchStreams)
	for i := 0; i < n; i++ {
		s := i % benchStreams
		stream := fmt.Sprintf("%s.product-SKU-%05d", ctxName, s)
		perStream[s] = append(perStream[s], benchEvent{
			id: uuid.New(), stream: stream, rev: uint64(len(perStream[s])),
			data: []byte(`{"sku":"SKU-` + strconv.Itoa(s) + `","name":"A product with a reasonably long name","priceCents":12345,"currency":"EUR"}`),
			md:   metadataAt(time.Now()),
		})
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := w; s < benchStreams; s += 8 {
				evs := perStream[s]
				for len(evs) > 0 {
					chunk := evs[:min(len(evs), 500)]
					evs = evs[len(chunk):]
					data := make([]esdb.EventData, len(chunk))
					for i, e := range chunk {
						md, err := json.Marshal(e.md)
						if err != nil {
							errs <- err
							return
						}
						data[i] = esdb.EventData{EventID: e.id, EventType: typeListed, ContentType: esdb.ContentTypeJson, Data: e.data, Metadata: md}
					}
					if _, err := es.AppendToStream(context.Background(), chunk[0].stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Any{}}, data...); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	out := make([]benchEvent, 0, n)
	for _, evs := range perStream {
		out = append(out, evs...)
	}
	return out
}

// baselineMessage is the record the relay would publish for ev.
func baselineMessage(topic string, ev benchEvent) *sarama.ProducerMessage {
	h := func(k, v string) sarama.RecordHeader { return sarama.RecordHeader{Key: []byte(k), Value: []byte(v)} }
	return &sarama.ProducerMessage{
		Topic: topic,
		Key:   sarama.StringEncoder(ev.stream),
		Value: sarama.ByteEncoder(ev.data),
		Headers: []sarama.RecordHeader{
			h(messaging.HeaderEventID, relay.EventID(ev.id, topic).String()),
			h(messaging.HeaderEventType, "bench.product_listed.v1"),
			h(messaging.HeaderStream, ev.stream),
			h(messaging.HeaderRevision, strconv.FormatUint(ev.rev, 10)),
			h(messaging.HeaderCorrelationID, ev.md.CorrelationID),
			h(messaging.HeaderCausationID, ev.md.CausationID),
			h(messaging.HeaderOccurredAt, ev.md.OccurredAt.Format(time.RFC3339Nano)),
			h(messaging.HeaderContentType, messaging.ContentTypeJSON),
			h(messaging.HeaderTraceparent, ev.md.Traceparent),
		},
		Timestamp: ev.md.OccurredAt,
	}
}
