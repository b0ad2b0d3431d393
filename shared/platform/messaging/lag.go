package messaging

import (
	"errors"
	"fmt"

	"github.com/IBM/sarama"
)

// PartitionLag is how far a consumer group is behind on one partition.
type PartitionLag struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// Committed is the group's next offset to read (the oldest offset when
	// it never committed), End the partition's next offset to be written.
	Committed int64 `json:"committed"`
	End       int64 `json:"end"`
	Lag       int64 `json:"lag"`
}

// GroupLag reports a consumer group's lag on every partition of topics. A
// group that never committed lags by everything retained.
func GroupLag(brokers []string, cfg *sarama.Config, group string, topics ...string) ([]PartitionLag, error) {
	client, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		return nil, fmt.Errorf("lag of %s: connect: %w", group, err)
	}
	defer client.Close()
	req := &sarama.OffsetFetchRequest{Version: 5, ConsumerGroup: group}
	parts := map[string][]int32{}
	for _, t := range topics {
		ps, err := client.Partitions(t)
		if err != nil {
			return nil, fmt.Errorf("lag of %s: partitions of %s: %w", group, t, err)
		}
		parts[t] = ps
		for _, p := range ps {
			req.AddPartition(t, p)
		}
	}
	var resp *sarama.OffsetFetchResponse
	err = withCoordinator(client, group, func(coord *sarama.Broker) error {
		var err error
		if resp, err = coord.FetchOffset(req); err != nil {
			return err
		}
		if resp.Err != sarama.ErrNoError && !errors.Is(resp.Err, sarama.ErrGroupIDNotFound) {
			return resp.Err
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("lag of %s: fetch offsets: %w", group, err)
	}
	// Kafka answers an unknown group with no offsets, kfake with
	// GROUP_ID_NOT_FOUND: both mean "never committed".
	known := !errors.Is(resp.Err, sarama.ErrGroupIDNotFound)
	var out []PartitionLag
	for _, t := range topics {
		for _, p := range parts[t] {
			end, err := client.GetOffset(t, p, sarama.OffsetNewest)
			if err != nil {
				return nil, fmt.Errorf("lag of %s: end of %s/%d: %w", group, t, p, err)
			}
			start, err := client.GetOffset(t, p, sarama.OffsetOldest)
			if err != nil {
				return nil, fmt.Errorf("lag of %s: start of %s/%d: %w", group, t, p, err)
			}
			committed := int64(-1)
			if b := resp.GetBlock(t, p); known && b != nil && b.Err == sarama.ErrNoError {
				committed = b.Offset
			}
			if committed < start {
				committed = start
			}
			out = append(out, PartitionLag{Topic: t, Partition: p, Committed: committed, End: end, Lag: end - committed})
		}
	}
	return out, nil
}

// Lag reports this subscriber's lag on every partition it consumes.
func (s *Subscriber) Lag() ([]PartitionLag, error) {
	return GroupLag(s.cfg.Brokers, s.cfg.Sarama, s.name, s.Topics()...)
}
