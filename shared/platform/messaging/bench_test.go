package messaging_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/troupe-dev/troupe/shared/events"
	"github.com/troupe-dev/troupe/shared/platform/messaging"
	"github.com/troupe-dev/troupe/shared/platform/testinfra"
)

// BenchmarkSubscriberDispatch measures the subscriber SDK's dispatch rate
// (decode, typed handler, ack, commit) beside a bare sarama consumer group
// that only marks each message, both reading the same pre-produced topic
// from the oldest offset with a fresh group, in the same run. Rates are
// from the first message to the last (steady state; joining the group is
// reported apart as ms-to-first). Use the real broker for figures
// (TROUPE_TEST_KAFKA_BROKERS); kfake is in-process and shares the CPU.
func BenchmarkSubscriberDispatch(b *testing.B) {
	const total = 100_000
	brokers := testinfra.KafkaBrokers(b)
	topic := testinfra.Topic(b, "bench")
	cfg := messaging.NewSaramaConfig("bench")
	if err := messaging.EnsureTopics(brokers, cfg, topic); err != nil {
		b.Fatal(err)
	}
	fill(b, brokers, topic, total)

	var bare, sdk timing
	for i := 0; i < b.N; i++ {
		bare.add(consumeBare(b, brokers, topic, total))
		sdk.add(consumeSDK(b, brokers, topic, total))
	}
	bareRate := float64((total-1)*b.N) / bare.steady.Seconds()
	sdkRate := float64((total-1)*b.N) / sdk.steady.Seconds()
	b.ReportMetric(bareRate, "sarama-msgs/s")
	b.ReportMetric(sdkRate, "sdk-msgs/s")
	b.ReportMetric(sdkRate/bareRate, "sdk/sarama")
	b.ReportMetric(float64(bare.first.Milliseconds())/float64(b.N), "sarama-ms-to-first")
	b.ReportMetric(float64(sdk.first.Milliseconds())/float64(b.N), "sdk-ms-to-first")
}

// timing accumulates the time to the first message and from first to last.
type timing struct{ first, steady time.Duration }

func (r *timing) add(o timing) { r.first += o.first; r.steady += o.steady }

// clock records when the first and the last of n messages arrived.
type clock struct {
	start       time.Time
	want        int64
	first, last atomic.Int64
	done        chan struct{}
}

func newClock(want int) *clock {
	return &clock{start: time.Now(), want: int64(want), done: make(chan struct{})}
}

// tick counts one message; it is safe for concurrent use.
func (c *clock) tick(count int64) {
	now := time.Since(c.start).Nanoseconds()
	if count == 1 {
		c.first.Store(now)
	}
	if count == c.want {
		c.last.Store(now)
		close(c.done)
	}
}

func (c *clock) result() timing {
	return timing{first: time.Duration(c.first.Load()), steady: time.Duration(c.last.Load() - c.first.Load())}
}

func fill(b *testing.B, brokers []string, topic string, n int) {
	b.Helper()
	cfg := messaging.NewSaramaConfig("bench-fill")
	cfg.Producer.Idempotent = false
	cfg.Net.MaxOpenRequests = 5
	cfg.Producer.RequiredAcks = sarama.WaitForLocal
	cfg.Producer.Return.Successes = false
	cfg.Producer.Flush.Messages = 1000
	p, err := sarama.NewAsyncProducer(brokers, cfg)
	if err != nil {
		b.Fatal(err)
	}
	go func() {
		for err := range p.Errors() {
			b.Error(err)
		}
	}()
	at := time.Now().UTC().Format(time.RFC3339Nano)
	for i := 0; i < n; i++ {
		stream := fmt.Sprintf("catalog.product-B%d", i%500)
		payload, _ := json.Marshal(events.StockReceived{SKU: fmt.Sprintf("B%d", i%500), Quantity: 1})
		p.Input() <- &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(stream), Value: sarama.ByteEncoder(payload),
			Headers: []sarama.RecordHeader{
				{Key: []byte(messaging.HeaderEventID), Value: []byte(fmt.Sprintf("id-%d", i))},
				{Key: []byte(messaging.HeaderEventType), Value: []byte(events.TypeStockReceived)},
				{Key: []byte(messaging.HeaderStream), Value: []byte(stream)},
				{Key: []byte(messaging.HeaderRevision), Value: []byte(fmt.Sprint(i / 500))},
				{Key: []byte(messaging.HeaderOccurredAt), Value: []byte(at)},
				{Key: []byte(messaging.HeaderContentType), Value: []byte(messaging.ContentTypeJSON)},
			}}
	}
	if err := p.Close(); err != nil {
		b.Fatal(err)
	}
}

type countingHandler struct {
	n     atomic.Int64
	clock *clock
}

func (h *countingHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *countingHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *countingHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for msg := range c.Messages() {
		s.MarkMessage(msg, "")
		h.clock.tick(h.n.Add(1))
	}
	return nil
}

func groupName() string {
	r := make([]byte, 6)
	_, _ = rand.Read(r)
	return "bench-" + hex.EncodeToString(r)
}

func consumeBare(b *testing.B, brokers []string, topic string, n int) timing {
	b.Helper()
	g, err := sarama.NewConsumerGroup(brokers, groupName(), messaging.NewSaramaConfig("bench-bare"))
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	h := &countingHandler{clock: newClock(n)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			if err := g.Consume(ctx, []string{topic}, h); err != nil {
				return
			}
		}
	}()
	select {
	case <-h.clock.done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("bare consumer read %d of %d", h.n.Load(), n)
	}
	return h.clock.result()
}

func consumeSDK(b *testing.B, brokers []string, topic string, n int) timing {
	b.Helper()
	sub, err := messaging.NewSubscriber(groupName(), messaging.SubscriberConfig{Brokers: brokers, Topics: []string{topic}})
	if err != nil {
		b.Fatal(err)
	}
	var count atomic.Int64
	c := newClock(n)
	messaging.Handle(sub, func(_ context.Context, _ events.StockReceived, _ messaging.Meta) error {
		c.tick(count.Add(1))
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- sub.Run(ctx) }()
	select {
	case <-c.done:
	case err := <-errc:
		b.Fatalf("subscriber stopped: %v", err)
	case <-time.After(5 * time.Minute):
		b.Fatalf("subscriber read %d of %d", count.Load(), n)
	}
	cancel()
	<-errc
	return c.result()
}
