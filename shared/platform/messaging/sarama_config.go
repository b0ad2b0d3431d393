package messaging

import (
	"time"

	"github.com/IBM/sarama"
	"github.com/rcrowley/go-metrics"
)

// KafkaVersion is the protocol version every sarama client in Troupe
// announces. It is set explicitly because sarama's default (2.1) is the
// oldest that Kafka 4.x still accepts, and kfake needs at least 0.11; 3.6
// gives idempotent producers and the consumer-group protocol both servers
// speak. It is proven against real Kafka 4.x and kfake by the tests module.
var KafkaVersion = sarama.V3_6_0_0

func init() {
	// Sarama records per-broker and per-topic rates and histograms in
	// go-metrics on every request; nothing here reads them (the platform's
	// metrics are Prometheus', see the readmodel and admin packages), and
	// they cost CPU on the saga's every hop.
	metrics.UseNilMetrics = true
}

// ConsumerHeartbeat is how often a consumer-group member heartbeats, and so
// the longest it takes to notice a rebalance (a member joining or leaving).
// It stays well under the session timeout (sarama's default, 10 s).
const ConsumerHeartbeat = 250 * time.Millisecond

// NewSaramaConfig returns Troupe's default sarama configuration for a client
// named clientID: explicit protocol version, acks from all in-sync replicas
// with an idempotent producer (so a retried produce is never duplicated),
// and consumer groups that start at the oldest offset (so a new subscriber
// catches up on history instead of silently skipping it) and commit only
// what the caller marks. The result is a fresh value the caller may adjust.
func NewSaramaConfig(clientID string) *sarama.Config {
	c := sarama.NewConfig()
	c.ClientID = clientID
	c.Version = KafkaVersion

	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Idempotent = true
	// The idempotent producer requires at most one in-flight request per
	// connection in sarama, and retries instead of failing on a blip.
	c.Net.MaxOpenRequests = 1
	c.Producer.Retry.Max = 10
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true

	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	// A subscriber joins its group once per topic (watermill-kafka makes
	// one sarama group member per Subscribe), so a subscriber of several
	// topics rebalances as its members join, and a member learns of a
	// rebalance only from its next heartbeat. At sarama's default of 3 s a
	// fresh stack held its first events for up to 3 s; heartbeats are one
	// small request each.
	c.Consumer.Group.Heartbeat.Interval = ConsumerHeartbeat
	c.Consumer.Return.Errors = true
	c.Metadata.AllowAutoTopicCreation = false
	return c
}
