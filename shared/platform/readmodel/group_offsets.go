package readmodel

import (
	"errors"
	"fmt"

	"github.com/IBM/sarama"
)

// SeekGroup commits, for every partition of topics, the consumer group's
// starting offset: the read model's stored next offset (from Offsets) when
// it has one, else the partition's oldest offset, so a model with no stored
// position (an empty Redis) is rebuilt from the start, never from wherever
// the group stopped. The subscriber SDK has no hook to seek at start, so
// this runs before it, while the group has no members; it is a simple
// (generation -1) commit, which Kafka refuses while members are active.
func SeekGroup(brokers []string, cfg *sarama.Config, group string, topics []string, stored map[string]int64) error {
	client, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		return fmt.Errorf("seek group %s: connect: %w", group, err)
	}
	defer client.Close()
	coord, err := client.Coordinator(group)
	if err != nil {
		return fmt.Errorf("seek group %s: coordinator: %w", group, err)
	}
	req := &sarama.OffsetCommitRequest{Version: 5, ConsumerGroup: group, ConsumerGroupGeneration: -1}
	for _, t := range topics {
		parts, err := client.Partitions(t)
		if err != nil {
			return fmt.Errorf("seek group %s: partitions of %s: %w", group, t, err)
		}
		for _, p := range parts {
			oldest, err := client.GetOffset(t, p, sarama.OffsetOldest)
			if err != nil {
				return fmt.Errorf("seek group %s: oldest of %s/%d: %w", group, t, p, err)
			}
			next := oldest
			if o, ok := stored[OffsetField(t, p)]; ok && o > oldest {
				next = o
			}
			req.AddBlock(t, p, next, 0, "")
		}
	}
	resp, err := coord.CommitOffset(req)
	if err != nil {
		return fmt.Errorf("seek group %s: commit: %w", group, err)
	}
	for t, ps := range resp.Errors {
		for p, kerr := range ps {
			if !errors.Is(kerr, sarama.ErrNoError) {
				return fmt.Errorf("seek group %s: commit %s/%d: %w", group, t, p, kerr)
			}
		}
	}
	return nil
}
