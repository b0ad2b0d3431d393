package tests

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/redis/go-redis/v9"

	"github.com/troupe-dev/troupe/shared/platform/messaging"
	"github.com/troupe-dev/troupe/shared/platform/testinfra"
)

// TestKafkaProduceConsume proves Troupe's sarama defaults against every
// Kafka backend (real Kafka 4.x under `make test`, and kfake): a topic with
// the design's 6 partitions, an idempotent acks=all producer, and a consumer
// group that starts at the oldest offset and sees every record, in order per
// key.
func TestKafkaProduceConsume(t *testing.T) {
	t.Parallel()
	testinfra.ForEachKafka(t, func(t *testing.T, kb testinfra.KafkaBackend) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		topic := testinfra.Topic(t, "infra")

		cfg := messaging.NewSaramaConfig("troupe-test")
		admin, err := sarama.NewClusterAdmin(kb.Brokers, cfg)
		if err != nil {
			t.Fatalf("cluster admin: %v", err)
		}
		defer admin.Close()
		if err := admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 6, ReplicationFactor: 1}, false); err != nil {
			t.Fatalf("create topic: %v", err)
		}
		meta, err := admin.DescribeTopics([]string{topic})
		if err != nil || len(meta) != 1 || len(meta[0].Partitions) != 6 {
			t.Fatalf("describe topic: %v %+v", err, meta)
		}

		producer, err := sarama.NewSyncProducer(kb.Brokers, cfg)
		if err != nil {
			t.Fatalf("producer: %v", err)
		}
		const keys, perKey = 5, 20
		for i := 0; i < perKey; i++ {
			for k := 0; k < keys; k++ {
				_, _, err := producer.SendMessage(&sarama.ProducerMessage{
					Topic: topic,
					Key:   sarama.StringEncoder(fmt.Sprintf("stream-%d", k)),
					Value: sarama.StringEncoder(fmt.Sprintf("%d", i)),
					Headers: []sarama.RecordHeader{
						{Key: []byte("troupe-event-type"), Value: []byte("test.event.v1")},
					},
				})
				if err != nil {
					t.Fatalf("send: %v", err)
				}
			}
		}
		if err := producer.Close(); err != nil {
			t.Fatalf("close producer: %v", err)
		}

		group, err := sarama.NewConsumerGroup(kb.Brokers, testinfra.UniqueName(t, "group"), cfg)
		if err != nil {
			t.Fatalf("consumer group: %v", err)
		}
		defer group.Close()
		h := &collector{want: keys * perKey, done: make(chan struct{}), seen: map[string][]string{}}
		consumeCtx, stop := context.WithCancel(ctx)
		defer stop()
		errc := make(chan error, 1)
		go func() {
			for consumeCtx.Err() == nil {
				if err := group.Consume(consumeCtx, []string{topic}, h); err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
		select {
		case <-h.done:
		case <-ctx.Done():
			t.Fatalf("consumed %d of %d records before the deadline", h.count(), keys*perKey)
		}
		stop()
		if err := <-errc; err != nil {
			t.Fatalf("consume: %v", err)
		}
		for k := 0; k < keys; k++ {
			got := h.seen[fmt.Sprintf("stream-%d", k)]
			if len(got) != perKey {
				t.Fatalf("key stream-%d: got %d records, want %d", k, len(got), perKey)
			}
			for i, v := range got {
				if v != fmt.Sprintf("%d", i) {
					t.Fatalf("key stream-%d: record %d is %q: order per key broken", k, i, v)
				}
			}
		}
	})
}

type collector struct {
	mu   sync.Mutex
	want int
	n    int
	seen map[string][]string
	done chan struct{}
}

func (c *collector) count() int { c.mu.Lock(); defer c.mu.Unlock(); return c.n }

func (c *collector) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (c *collector) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (c *collector) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for msg := range claim.Messages() {
		if string(msg.Headers[0].Value) != "test.event.v1" {
			return fmt.Errorf("header lost: %q", msg.Headers[0].Value)
		}
		c.mu.Lock()
		c.seen[string(msg.Key)] = append(c.seen[string(msg.Key)], string(msg.Value))
		c.n++
		if c.n == c.want {
			close(c.done)
		}
		c.mu.Unlock()
		s.MarkMessage(msg, "")
	}
	return nil
}

// TestRedisRoundTrip proves go-redis against every Redis backend (real
// redis-server under `make test`, and miniredis): plain keys, a MULTI
// transaction and a Lua script, the three things read models rely on.
func TestRedisRoundTrip(t *testing.T) {
	t.Parallel()
	testinfra.ForEachRedis(t, func(t *testing.T, rb testinfra.RedisBackend) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		opts, err := redis.ParseURL(rb.URL)
		if err != nil {
			t.Fatalf("parse %s: %v", rb.URL, err)
		}
		rdb := redis.NewClient(opts)
		defer rdb.Close()
		p := testinfra.KeyPrefix(t)

		if err := rdb.Set(ctx, p+"k", "v", 0).Err(); err != nil {
			t.Fatalf("set: %v", err)
		}
		if got, err := rdb.Get(ctx, p+"k").Result(); err != nil || got != "v" {
			t.Fatalf("get = %q, %v; want v", got, err)
		}
		if _, err := rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
			pipe.HSet(ctx, p+"h", "a", 1)
			pipe.IncrBy(ctx, p+"n", 41)
			pipe.Incr(ctx, p+"n")
			return nil
		}); err != nil {
			t.Fatalf("multi: %v", err)
		}
		if n, err := rdb.Get(ctx, p+"n").Int(); err != nil || n != 42 {
			t.Fatalf("n = %d, %v; want 42", n, err)
		}
		// Apply-once in Lua: the shape every read model's apply step takes.
		script := redis.NewScript(`
if tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '-1') >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('INCRBY', KEYS[2], 1)
return 1`)
		keys := []string{p + "applied", p + "count"}
		for i, want := range []int64{1, 0, 1} {
			rev := []int{0, 0, 1}[i]
			got, err := script.Run(ctx, rdb, keys, "stream-a", rev).Int64()
			if err != nil || got != want {
				t.Fatalf("apply %d (rev %d) = %d, %v; want %d", i, rev, got, err, want)
			}
		}
		if n, err := rdb.Get(ctx, p+"count").Int(); err != nil || n != 2 {
			t.Fatalf("count = %d, %v; want 2 (the duplicate must not apply)", n, err)
		}
	})
}
