package readmodel

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/IBM/sarama"
)

// GroupHasMembers reports whether the consumer group has members right now
// (a running instance of the same subscriber, or one that died and whose
// session has not yet expired).
func GroupHasMembers(brokers []string, cfg *sarama.Config, group string) (bool, error) {
	admin, err := sarama.NewClusterAdmin(brokers, cfg)
	if err != nil {
		return false, fmt.Errorf("describe group %s: connect: %w", group, err)
	}
	defer admin.Close()
	descs, err := admin.DescribeConsumerGroups([]string{group})
	if err != nil {
		return false, fmt.Errorf("describe group %s: %w", group, err)
	}
	for _, d := range descs {
		if d.GroupId == group && len(d.Members) > 0 {
			return true, nil
		}
	}
	return false, nil
}

// PositionGroup gets a read model's consumer group ready to join: while
// the group has no members it seeks it to the model's stored offsets (see
// SeekGroup); when it has members, another instance is already feeding
// the same read model, so this one joins without seeking and takes over
// partitions at the offsets the group committed (events the model has
// applied are skipped by revision, so nothing is applied twice and nothing
// is skipped). A seek refused because a member joined meanwhile is retried
// the same way, for at most 45 s.
func PositionGroup(ctx context.Context, brokers []string, cfg *sarama.Config, group string, topics []string, stored map[string]int64, log *slog.Logger) error {
	deadline := time.Now().Add(45 * time.Second)
	for {
		active, err := GroupHasMembers(brokers, cfg, group)
		if err == nil && active {
			log.Info("readmodel: the consumer group has members; joining it without seeking", "group", group)
			return nil
		}
		if err == nil {
			err = SeekGroup(brokers, cfg, group, topics, stored)
		}
		if err == nil || time.Now().After(deadline) {
			return err
		}
		log.Warn("readmodel: cannot position the consumer group yet; retrying", "group", group, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
