package messaging_test

import (
	"testing"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill"
	wkafka "github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"

	"github.com/troupe-dev/troupe/shared/platform/messaging"
	"github.com/troupe-dev/troupe/shared/platform/testinfra"
)

// TestWatermillUniversalSuite runs watermill's universal Pub/Sub suite with
// Troupe's production Kafka settings (NewSaramaConfig, 6 partitions) on a
// dedicated real Kafka 4.x broker, including broker restarts mid-test
// (RestartServiceCommand), and on kfake, which runs in this process and so
// cannot be restarted by a command: its reconnect test is skipped.
//
// Watermill's TestReconnect itself has a data race (it appends to its list
// of published messages from one goroutine and reads it from another
// without synchronisation), so under -race the restart is left out and
// scripts/test.sh runs TestReconnect again without -race, on its own.
//
// Feature flags are honest: delivery is at-least-once, order is per
// partition only (watermill's default marshaler does not key records) and
// the log is persistent. NewSubscriberReceivesOldMessages is off: the suite
// means "every new subscriber sees all history", which holds for a new
// group (TestCatchUpInOrder proves that) but not for a second member of the
// same group, which is what the suite's constructor gives.
func TestWatermillUniversalSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("the universal suite takes minutes; make test runs it")
	}
	t.Parallel()
	testinfra.ForEachRestartableKafka(t, func(t *testing.T, k testinfra.RestartableKafka) {
		brokers := k.Brokers()
		constructor := func(t *testing.T, group string) (message.Publisher, message.Subscriber) {
			logger := watermill.NopLogger{}
			pub, err := wkafka.NewPublisher(wkafka.PublisherConfig{
				Brokers:               brokers,
				Marshaler:             wkafka.DefaultMarshaler{},
				OverwriteSaramaConfig: messaging.NewSaramaConfig("watermill-suite"),
			}, logger)
			if err != nil {
				t.Fatal(err)
			}
			sub, err := wkafka.NewSubscriber(wkafka.SubscriberConfig{
				Brokers:               brokers,
				Unmarshaler:           wkafka.DefaultMarshaler{},
				OverwriteSaramaConfig: messaging.NewSaramaConfig("watermill-suite"),
				ConsumerGroup:         group,
				InitializeTopicDetails: &sarama.TopicDetail{
					NumPartitions: messaging.TopicPartitions, ReplicationFactor: 1,
				},
			}, logger)
			if err != nil {
				t.Fatal(err)
			}
			return pub, sub
		}
		restart := k.RestartCommand()
		if raceEnabled {
			restart = nil
		}
		tests.TestPubSub(t, tests.Features{
			ConsumerGroups:                   true,
			ExactlyOnceDelivery:              false,
			GuaranteedOrder:                  false,
			Persistent:                       true,
			RestartServiceCommand:            restart,
			NewSubscriberReceivesOldMessages: false,
		}, func(t *testing.T) (message.Publisher, message.Subscriber) {
			return constructor(t, "test")
		}, constructor)
	})
}
