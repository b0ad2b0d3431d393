package messaging

import (
	"errors"
	"fmt"
	"time"

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
	var created []string
	for _, t := range topics {
		if _, ok := existing[t]; ok {
			continue
		}
		created = append(created, t)
		err := admin.CreateTopic(t, &sarama.TopicDetail{
			NumPartitions:     TopicPartitions,
			ReplicationFactor: 1,
			ConfigEntries:     map[string]*string{"retention.ms": &unlimited},
		}, false)
		if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
			return fmt.Errorf("ensure topics: create %s: %w", t, err)
		}
	}
	return waitForLeaders(brokers, cfg, created)
}

// waitForLeaders waits until every partition of topics has a leader that
// answers, so the first produce or offset fetch after creation does not
// fail with NOT_LEADER while metadata propagates.
func waitForLeaders(brokers []string, cfg *sarama.Config, topics []string) error {
	if len(topics) == 0 {
		return nil
	}
	client, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		return fmt.Errorf("ensure topics: %w", err)
	}
	defer client.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := client.RefreshMetadata(topics...)
		if err == nil {
			err = allLed(client, topics)
		}
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("ensure topics: %v have no leader after 30 s: %w", topics, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func allLed(client sarama.Client, topics []string) error {
	for _, t := range topics {
		parts, err := client.Partitions(t)
		if err != nil {
			return err
		}
		if len(parts) == 0 {
			return fmt.Errorf("topic %s has no partitions yet", t)
		}
		for _, p := range parts {
			if _, err := client.Leader(t, p); err != nil {
				return err
			}
			if _, err := client.GetOffset(t, p, sarama.OffsetNewest); err != nil {
				return err
			}
		}
	}
	return nil
}
