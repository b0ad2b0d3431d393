package messaging_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/redis/go-redis/v9"

	"github.com/troupe-dev/troupe/shared/events"
	"github.com/troupe-dev/troupe/shared/platform/messaging"
	"github.com/troupe-dev/troupe/shared/platform/readmodel"
	"github.com/troupe-dev/troupe/shared/platform/testinfra"
)

// rig is one subscriber test's topic, producer and subscriber name.
type rig struct {
	t       *testing.T
	brokers []string
	topic   string
	name    string
	prod    sarama.SyncProducer
}

func newRig(t *testing.T, brokers []string) *rig {
	t.Helper()
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	r := &rig{t: t, brokers: brokers, topic: testinfra.Topic(t, "sdk"), name: "sub-" + hex.EncodeToString(b)}
	cfg := messaging.NewSaramaConfig("sdk-test")
	if err := messaging.EnsureTopics(brokers, cfg, r.topic); err != nil {
		t.Fatal(err)
	}
	prod, err := sarama.NewSyncProducer(brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = prod.Close() })
	r.prod = prod
	return r
}

// publish sends one integration event the way the relay does.
func (r *rig) publish(stream string, rev uint64, e events.Event) {
	r.t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		r.t.Fatal(err)
	}
	r.publishRaw(stream, rev, e.EventType(), b)
}

func (r *rig) publishRaw(stream string, rev uint64, typ string, payload []byte) {
	r.t.Helper()
	h := []sarama.RecordHeader{
		{Key: []byte(messaging.HeaderEventID), Value: []byte(fmt.Sprintf("%s@%d", stream, rev))},
		{Key: []byte(messaging.HeaderEventType), Value: []byte(typ)},
		{Key: []byte(messaging.HeaderStream), Value: []byte(stream)},
		{Key: []byte(messaging.HeaderRevision), Value: []byte(fmt.Sprint(rev))},
		{Key: []byte(messaging.HeaderOccurredAt), Value: []byte(time.Now().UTC().Format(time.RFC3339Nano))},
		{Key: []byte(messaging.HeaderContentType), Value: []byte(messaging.ContentTypeJSON)},
	}
	_, _, err := r.prod.SendMessage(&sarama.ProducerMessage{Topic: r.topic, Key: sarama.StringEncoder(stream),
		Value: sarama.ByteEncoder(payload), Headers: h})
	if err != nil {
		r.t.Fatalf("publish: %v", err)
	}
}

func (r *rig) subscriber(hooks messaging.Hooks) *messaging.Subscriber {
	r.t.Helper()
	s, err := messaging.NewSubscriber(r.name, messaging.SubscriberConfig{
		Brokers: r.brokers, Topics: []string{r.topic}, MaxAttempts: 3,
		RetryInitial: 5 * time.Millisecond, RetryMax: 20 * time.Millisecond, Hooks: hooks,
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return s
}

// run starts s and returns a stop function that waits for Run to return.
func run(t *testing.T, s *messaging.Subscriber) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		err := s.Run(ctx)
		if err != nil && ctx.Err() == nil {
			t.Errorf("Run stopped early: %v", err)
		}
		done <- err
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for !cond() {
		if t.Failed() {
			t.FailNow()
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// recorder collects handled events per stream, in handling order.
type recorder struct {
	mu   sync.Mutex
	seen map[string][]uint64
	n    int
}

func (r *recorder) add(m messaging.Meta) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen == nil {
		r.seen = map[string][]uint64{}
	}
	r.seen[m.Stream] = append(r.seen[m.Stream], m.Revision)
	r.n++
}

func (r *recorder) get(stream string) []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]uint64(nil), r.seen[stream]...)
}

func (r *recorder) count() int { r.mu.Lock(); defer r.mu.Unlock(); return r.n }

// TestCatchUpInOrder: a new subscriber starts at the oldest offset (history
// published before it existed is handled) and keeps each stream's order;
// events of types it has no handler for are skipped.
func TestCatchUpInOrder(t *testing.T) {
	t.Parallel()
	testinfra.ForEachKafka(t, func(t *testing.T, kb testinfra.KafkaBackend) {
		t.Parallel()
		r := newRig(t, kb.Brokers)
		const streams, perStream = 8, 25
		for i := 0; i < perStream; i++ {
			for s := 0; s < streams; s++ {
				r.publish(fmt.Sprintf("catalog.product-SKU-S%d", s), uint64(i), events.StockReceived{SKU: fmt.Sprintf("SKU-S%d", s), Quantity: i + 1})
			}
		}
		r.publish("ordering.order-x", 0, events.OrderConfirmed{OrderID: "x"}) // no handler: skipped
		var rec recorder
		sub := r.subscriber(messaging.Hooks{})
		messaging.Handle(sub, func(_ context.Context, e events.StockReceived, m messaging.Meta) error {
			if e.Quantity != int(m.Revision)+1 || m.Stream != "catalog.product-"+e.SKU {
				return fmt.Errorf("payload %+v does not match meta %+v", e, m)
			}
			rec.add(m)
			return nil
		})
		run(t, sub)
		waitFor(t, "all events", func() bool { return rec.count() >= streams*perStream })
		for s := 0; s < streams; s++ {
			got := rec.get(fmt.Sprintf("catalog.product-SKU-S%d", s))
			for i, rev := range got {
				if rev != uint64(i) {
					t.Fatalf("stream S%d handled %v: order broken or duplicated", s, got)
				}
			}
		}
	})
}

// TestRetriesThenSucceedsOnce: a handler that fails twice then succeeds
// takes effect once, on its third attempt.
func TestRetriesThenSucceedsOnce(t *testing.T) {
	t.Parallel()
	testinfra.ForEachKafka(t, func(t *testing.T, kb testinfra.KafkaBackend) {
		t.Parallel()
		r := newRig(t, kb.Brokers)
		r.publish("catalog.product-A", 0, events.StockReceived{SKU: "SKU-A", Quantity: 1})
		var calls, effects, lastAttempt atomic.Int64
		sub := r.subscriber(messaging.Hooks{})
		messaging.Handle(sub, func(_ context.Context, e events.StockReceived, m messaging.Meta) error {
			if calls.Add(1) <= 2 {
				return errors.New("transient")
			}
			lastAttempt.Store(int64(m.Attempt))
			effects.Add(1)
			return nil
		})
		run(t, sub)
		waitFor(t, "the effect", func() bool { return effects.Load() == 1 })
		time.Sleep(200 * time.Millisecond)
		if effects.Load() != 1 || calls.Load() != 3 || lastAttempt.Load() != 3 {
			t.Fatalf("effects %d, calls %d, last attempt %d; want 1, 3, 3", effects.Load(), calls.Load(), lastAttempt.Load())
		}
		if dl, err := sub.DeadLetters(context.Background()); err != nil || len(dl) != 0 {
			t.Fatalf("dead letters = %v, %v; want none", dl, err)
		}
	})
}

// TestDuplicateDeliveryChangesNothing: the same event delivered twice (a
// re-publication, as after a relay crash) takes effect once when the
// handler applies it through readmodel.ApplyOnce; against real Kafka and
// Redis, and kfake and miniredis.
func TestDuplicateDeliveryChangesNothing(t *testing.T) {
	t.Parallel()
	testinfra.ForEachKafka(t, func(t *testing.T, kb testinfra.KafkaBackend) {
		t.Parallel()
		url := testinfra.EmbeddedRedis(t)
		if kb.Name == testinfra.Real {
			url = testinfra.RedisURL(t)
		}
		opts, _ := redis.ParseURL(url)
		rdb := redis.NewClient(opts)
		defer rdb.Close()
		p := testinfra.KeyPrefix(t)
		r := newRig(t, kb.Brokers)
		for _, rev := range []uint64{0, 1, 1, 0, 2, 2} { // duplicates, one reordered redelivery
			r.publish("catalog.product-D", rev, events.StockReceived{SKU: "SKU-D", Quantity: 10})
		}
		var handled atomic.Int64
		sub := r.subscriber(messaging.Hooks{})
		messaging.Handle(sub, func(ctx context.Context, e events.StockReceived, m messaging.Meta) error {
			defer handled.Add(1)
			_, err := readmodel.ApplyOnce(ctx, rdb, p+"applied", m.Stream, m.Revision, func(pipe redis.Pipeliner) error {
				pipe.IncrBy(ctx, p+"stock:"+e.SKU, int64(e.Quantity))
				return nil
			})
			return err
		})
		run(t, sub)
		waitFor(t, "six deliveries", func() bool { return handled.Load() == 6 })
		if n, err := rdb.Get(context.Background(), p+"stock:SKU-D").Int(); err != nil || n != 30 {
			t.Fatalf("stock = %d, %v; want 30 (three distinct events of 10)", n, err)
		}
	})
}

// TestDeadLetterParkAndRedrive: a message that always fails goes to the
// dead-letter topic with the design's headers; other streams on the same
// partition keep flowing; later events of the failed stream are parked
// behind it, in order; after a restart the stream is still parked; a
// redrive feeds them back in order and unparks the stream.
func TestDeadLetterParkAndRedrive(t *testing.T) {
	t.Parallel()
	testinfra.ForEachKafka(t, func(t *testing.T, kb testinfra.KafkaBackend) {
		t.Parallel()
		r := newRig(t, kb.Brokers)
		var broken atomic.Bool
		broken.Store(true)
		var rec recorder
		var deadLettered atomic.Int64
		newSub := func() *messaging.Subscriber {
			sub := r.subscriber(messaging.Hooks{DeadLettered: func(messaging.Meta, string) { deadLettered.Add(1) }})
			messaging.Handle(sub, func(_ context.Context, e events.StockReceived, m messaging.Meta) error {
				if e.SKU == "BAD" && m.Revision == 0 && broken.Load() {
					return errors.New("boom")
				}
				rec.add(m)
				return nil
			})
			return sub
		}
		sub := newSub()
		stop := run(t, sub)
		r.publish("catalog.product-BAD", 0, events.StockReceived{SKU: "BAD", Quantity: 1})
		r.publish("catalog.product-BAD", 1, events.StockReceived{SKU: "BAD", Quantity: 1})
		for i := 0; i < 20; i++ { // many streams: some share BAD's partition
			r.publish(fmt.Sprintf("catalog.product-OK%d", i), 0, events.StockReceived{SKU: fmt.Sprintf("OK%d", i), Quantity: 1})
		}
		r.publishRaw("catalog.product-BAD", 2, events.TypeStockReceived, []byte(`{"sku":"BAD","quantity":1}`))
		waitFor(t, "the other streams", func() bool { return rec.count() == 20 })
		waitFor(t, "three dead letters", func() bool { return deadLettered.Load() == 3 })
		if got := rec.get("catalog.product-BAD"); len(got) != 0 {
			t.Fatalf("parked stream handled %v", got)
		}
		dl, err := sub.DeadLetters(context.Background())
		if err != nil || len(dl) != 3 {
			t.Fatalf("dead letters = %+v, %v; want 3", dl, err)
		}
		if dl[0].Stream != "catalog.product-BAD" || dl[0].Parked || dl[0].Attempts != 3 || dl[0].Error != "boom" ||
			!dl[1].Parked || !dl[2].Parked || dl[0].Offset > dl[1].Offset || dl[1].Offset > dl[2].Offset {
			t.Fatalf("dead letters = %+v", dl)
		}

		// Restart: the stream stays parked.
		stop()
		sub = newSub()
		run(t, sub)
		r.publish("catalog.product-BAD", 3, events.StockReceived{SKU: "BAD", Quantity: 1})
		waitFor(t, "the fourth dead letter", func() bool { return deadLettered.Load() == 4 })

		broken.Store(false)
		n, err := sub.Redrive(context.Background())
		if err != nil || n != 4 {
			t.Fatalf("redrive = %d, %v; want 4", n, err)
		}
		if got := rec.get("catalog.product-BAD"); fmt.Sprint(got) != "[0 1 2 3]" {
			t.Fatalf("redriven in order %v, want [0 1 2 3]", got)
		}
		r.publish("catalog.product-BAD", 4, events.StockReceived{SKU: "BAD", Quantity: 1})
		waitFor(t, "the unparked stream", func() bool { return len(rec.get("catalog.product-BAD")) == 5 })
		if dl, err := sub.DeadLetters(context.Background()); err != nil || len(dl) != 0 {
			t.Fatalf("after redrive, dead letters = %+v, %v", dl, err)
		}
	})
}

// TestUndecodableGoesToDLQAtOnce: a payload that cannot be decoded is
// dead-lettered on the first attempt, and the partition moves on.
func TestUndecodableGoesToDLQAtOnce(t *testing.T) {
	t.Parallel()
	testinfra.ForEachKafka(t, func(t *testing.T, kb testinfra.KafkaBackend) {
		t.Parallel()
		r := newRig(t, kb.Brokers)
		r.publishRaw("catalog.product-U", 0, events.TypeStockReceived, []byte(`{"sku": 42`))
		r.publish("catalog.product-V", 0, events.StockReceived{SKU: "SKU-V", Quantity: 1})
		var calls atomic.Int64
		var rec recorder
		sub := r.subscriber(messaging.Hooks{})
		messaging.Handle(sub, func(_ context.Context, e events.StockReceived, m messaging.Meta) error {
			calls.Add(1)
			rec.add(m)
			return nil
		})
		run(t, sub)
		waitFor(t, "the good event", func() bool { return rec.count() == 1 })
		var dl []messaging.DeadLetter
		waitFor(t, "the dead letter", func() bool {
			dl, _ = sub.DeadLetters(context.Background())
			return len(dl) == 1
		})
		if dl[0].Stream != "catalog.product-U" || dl[0].Attempts != 1 || calls.Load() != 1 {
			t.Fatalf("dead letter %+v, handler calls %d", dl[0], calls.Load())
		}
	})
}

// TestNewSubscriberValidates: bad names and configs are refused.
func TestNewSubscriberValidates(t *testing.T) {
	for _, name := range []string{"", "Upper", "has.dot", "1digit"} {
		if _, err := messaging.NewSubscriber(name, messaging.SubscriberConfig{Brokers: []string{"x:1"}}); err == nil {
			t.Errorf("name %q accepted", name)
		}
	}
	if _, err := messaging.NewSubscriber("ok", messaging.SubscriberConfig{}); err == nil {
		t.Error("no brokers accepted")
	}
	cfg := messaging.NewSaramaConfig("x")
	cfg.Consumer.Offsets.Initial = sarama.OffsetNewest
	if _, err := messaging.NewSubscriber("ok", messaging.SubscriberConfig{Brokers: []string{"x:1"}, Sarama: cfg}); err == nil {
		t.Error("a group starting at the newest offset accepted")
	}
}

// TestLag: before the subscriber runs it lags by everything published;
// once it has handled (and committed) everything, by nothing.
func TestLag(t *testing.T) {
	t.Parallel()
	testinfra.ForEachKafka(t, func(t *testing.T, kb testinfra.KafkaBackend) {
		t.Parallel()
		r := newRig(t, kb.Brokers)
		for i := 0; i < 10; i++ {
			r.publish(fmt.Sprintf("catalog.product-L%d", i), 0, events.StockReceived{SKU: "SKU-L", Quantity: 1})
		}
		var rec recorder
		sub := r.subscriber(messaging.Hooks{})
		messaging.Handle(sub, func(_ context.Context, _ events.StockReceived, m messaging.Meta) error { rec.add(m); return nil })
		total := func() int64 {
			lag, err := sub.Lag()
			if err != nil {
				t.Fatalf("lag: %v", err)
			}
			if len(lag) != messaging.TopicPartitions {
				t.Fatalf("lag has %d partitions, want %d", len(lag), messaging.TopicPartitions)
			}
			var n int64
			for _, l := range lag {
				n += l.Lag
			}
			return n
		}
		if n := total(); n != 10 {
			t.Fatalf("lag before running = %d, want 10", n)
		}
		stop := run(t, sub)
		waitFor(t, "all events", func() bool { return rec.count() == 10 })
		stop() // a clean stop commits what was processed
		waitFor(t, "zero lag", func() bool { return total() == 0 })
	})
}
