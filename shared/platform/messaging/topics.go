package messaging

import (
	"errors"
	"fmt"

	"github.com/IBM/sarama"
)

// TopicPartitions is the partition count of every Troupe topic: enough for
// a few consumers per group to share the load, few enough for one node.
const TopicPartitions = 6

// EnsureTopics creates each topic that does not exist yet, with
// TopicPartitions partitions and unlimited retention (retention.ms=-1:
// history is what new subscribers and rebuilds replay). An existing topic is
// left as it is. It is safe to call concurrently from several processes.
func EnsureTopics(brokers []string, cfg *sarama.Config, topics ...string) error {
	admin, err := sarama.NewClusterAdmin(brokers, cfg)
	if err != nil {
		return fmt.Errorf("ensure topics: connect to %v: %w", brokers, err)
	}
	defer admin.Close()
	existing, err := admin.ListTopics()
	if err != nil {
		return fmt.Errorf("ensure topics: list: %w", err)
	}
	unlimited := "-1"
	for _, t := range topics {
		if _, ok := existing[t]; ok {
			continue
		}
		err := admin.CreateTopic(t, &sarama.TopicDetail{
			NumPartitions:     TopicPartitions,
			ReplicationFactor: 1,
			ConfigEntries:     map[string]*string{"retention.ms": &unlimited},
		}, false)
		if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
			return fmt.Errorf("ensure topics: create %s: %w", t, err)
		}
	}
	return nil
}
