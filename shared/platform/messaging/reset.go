package messaging

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/IBM/sarama"
)

// ErrNotResettable is returned by Reset for a subscriber configured with a
// ResetRefusal; the error says why and what to use instead.
var ErrNotResettable = errors.New("subscriber cannot be reset")

// ErrGroupHasMembers is returned when a group's offsets cannot be moved
// because consumers are members of it (in another process).
var ErrGroupHasMembers = errors.New("consumer group has active members")

// ErrInvalidResetTo is returned by ParseResetTo for a value that is
// neither "earliest" nor an RFC 3339 time.
var ErrInvalidResetTo = errors.New(`want "earliest" or an RFC 3339 time`)

// ResetTo is where Reset moves a group: the oldest retained offset, or the
// first offset of each partition whose record time is at or after Time.
type ResetTo struct {
	Earliest bool
	Time     time.Time
}

// ParseResetTo parses "earliest" or an RFC 3339 time (e.g.
// "2026-11-28T06:00:00Z").
func ParseResetTo(s string) (ResetTo, error) {
	if strings.EqualFold(strings.TrimSpace(s), "earliest") {
		return ResetTo{Earliest: true}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
	if err != nil {
		return ResetTo{}, fmt.Errorf("%q: %w", s, ErrInvalidResetTo)
	}
	return ResetTo{Time: t}, nil
}

// String returns "earliest" or the time in RFC 3339.
func (r ResetTo) String() string {
	if r.Earliest {
		return "earliest"
	}
	return r.Time.UTC().Format(time.RFC3339Nano)
}

// PartitionOffset is one partition's offset (the next one to consume).
type PartitionOffset struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

// resetOffsets returns, for every partition of topics, the offset to reset
// to: the oldest retained one, or the first at or after to.Time (the end
// when every record is older).
func resetOffsets(client sarama.Client, topics []string, to ResetTo) ([]PartitionOffset, error) {
	var out []PartitionOffset
	for _, t := range topics {
		parts, err := client.Partitions(t)
		if err != nil {
			return nil, fmt.Errorf("partitions of %s: %w", t, err)
		}
		for _, p := range parts {
			var off int64
			if to.Earliest {
				off, err = client.GetOffset(t, p, sarama.OffsetOldest)
			} else {
				off, err = client.GetOffset(t, p, to.Time.UnixMilli())
				if err == nil && off < 0 { // no record at or after the time
					off, err = client.GetOffset(t, p, sarama.OffsetNewest)
				}
			}
			if err != nil {
				return nil, fmt.Errorf("offset of %s/%d: %w", t, p, err)
			}
			out = append(out, PartitionOffset{Topic: t, Partition: p, Offset: off})
		}
	}
	return out, nil
}

// commitGroup moves group's offsets with a simple (memberless) commit,
// which Kafka accepts only while the group has no members. It retries for
// a while when the group is still settling (a member that just left).
func commitGroup(ctx context.Context, client sarama.Client, group string, to []PartitionOffset) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := commitOnce(client, group, to)
		if err == nil {
			return nil
		}
		settling := errors.Is(err, sarama.ErrRebalanceInProgress) || errors.Is(err, sarama.ErrUnknownMemberId) ||
			errors.Is(err, sarama.ErrIllegalGeneration)
		if !settling || time.Now().After(deadline) {
			if settling {
				return fmt.Errorf("%w: %v", ErrGroupHasMembers, err)
			}
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func commitOnce(client sarama.Client, group string, to []PartitionOffset) error {
	return withCoordinator(client, group, func(coord *sarama.Broker) error {
		req := &sarama.OffsetCommitRequest{Version: 5, ConsumerGroup: group, ConsumerGroupGeneration: -1}
		for _, po := range to {
			req.AddBlock(po.Topic, po.Partition, po.Offset, 0, "")
		}
		resp, err := coord.CommitOffset(req)
		if err != nil {
			return err
		}
		for t, ps := range resp.Errors {
			for p, kerr := range ps {
				if !errors.Is(kerr, sarama.ErrNoError) {
					return fmt.Errorf("commit %s/%d: %w", t, p, kerr)
				}
			}
		}
		return nil
	})
}

// groupMembers returns how many members group has (0 for an unknown or
// empty group).
func groupMembers(brokers []string, cfg *sarama.Config, group string) (int, error) {
	admin, err := sarama.NewClusterAdmin(brokers, cfg)
	if err != nil {
		return 0, fmt.Errorf("connect to %v: %w", brokers, err)
	}
	defer admin.Close()
	desc, err := admin.DescribeConsumerGroups([]string{group})
	if err != nil {
		return 0, fmt.Errorf("describe group %s: %w", group, err)
	}
	n := 0
	for _, d := range desc {
		if d.GroupId == group {
			n += len(d.Members)
		}
	}
	return n, nil
}

// ResetGroup moves consumer group's offsets on every partition of topics
// to to, directly in Kafka, for a group that no process of this one runs
// (a bare cluster). It refuses with ErrGroupHasMembers while the group has
// members: moving offsets under running consumers would be overwritten by
// their next commit. It returns the offsets it committed.
func ResetGroup(ctx context.Context, brokers []string, cfg *sarama.Config, group string, topics []string, to ResetTo) ([]PartitionOffset, error) {
	n, err := groupMembers(brokers, cfg, group)
	if err != nil {
		return nil, fmt.Errorf("reset %s: %w", group, err)
	}
	if n > 0 {
		return nil, fmt.Errorf("reset %s: %w (%d); stop them, or reset through the platform's admin API", group, ErrGroupHasMembers, n)
	}
	client, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		return nil, fmt.Errorf("reset %s: connect: %w", group, err)
	}
	defer client.Close()
	offsets, err := resetOffsets(client, topics, to)
	if err != nil {
		return nil, fmt.Errorf("reset %s: %w", group, err)
	}
	if err := commitOnce(client, group, offsets); err != nil {
		if errors.Is(err, sarama.ErrRebalanceInProgress) || errors.Is(err, sarama.ErrUnknownMemberId) ||
			errors.Is(err, sarama.ErrIllegalGeneration) {
			err = fmt.Errorf("%w: %v", ErrGroupHasMembers, err)
		}
		return nil, fmt.Errorf("reset %s: %w", group, err)
	}
	return offsets, nil
}

// GroupTopics returns the topics on which group has committed offsets,
// sorted (none for a group that never committed).
func GroupTopics(brokers []string, cfg *sarama.Config, group string) ([]string, error) {
	admin, err := sarama.NewClusterAdmin(brokers, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %v: %w", brokers, err)
	}
	defer admin.Close()
	resp, err := admin.ListConsumerGroupOffsets(group, nil)
	if err != nil {
		return nil, fmt.Errorf("offsets of group %s: %w", group, err)
	}
	var out []string
	for t := range resp.Blocks {
		out = append(out, t)
	}
	sort.Strings(out)
	return out, nil
}

// Reset re-drives history into this subscriber: it pauses it (when Run is
// running in this process), moves its group's offsets on every topic it
// consumes to to, lets OnReset move a stored position too, and resumes it.
// Delivery stays at-least-once and in order per stream; events at or after
// the new offsets are handled again, so what a reset means depends on the
// handlers (an exactly-once read model skips what it has applied; a
// webhook re-sends). A subscriber with a ResetRefusal is refused with
// ErrNotResettable; one whose group has members in another process with
// ErrGroupHasMembers. It returns the offsets committed.
func (s *Subscriber) Reset(ctx context.Context, to ResetTo) ([]PartitionOffset, error) {
	if s.cfg.ResetRefusal != "" {
		return nil, fmt.Errorf("%w: %s", ErrNotResettable, s.cfg.ResetRefusal)
	}
	switch err := s.Pause(ctx); {
	case err == nil:
		defer s.Resume()
	case errors.Is(err, ErrPaused):
		return nil, fmt.Errorf("reset %s: %w (a reset or pause is under way)", s.name, err)
	case errors.Is(err, ErrNotRunning):
		// Not running here: the group must have no members at all.
	default:
		s.Resume()
		return nil, fmt.Errorf("reset %s: pause: %w", s.name, err)
	}
	if err := EnsureTopics(s.cfg.Brokers, s.cfg.Sarama, s.Topics()...); err != nil {
		return nil, fmt.Errorf("reset %s: %w", s.name, err)
	}
	n, err := groupMembers(s.cfg.Brokers, s.cfg.Sarama, s.name)
	if err != nil {
		return nil, fmt.Errorf("reset %s: %w", s.name, err)
	}
	if n > 0 {
		return nil, fmt.Errorf("reset %s: %w (%d, in other processes); stop them or reset each process", s.name, ErrGroupHasMembers, n)
	}
	client, err := sarama.NewClient(s.cfg.Brokers, s.cfg.Sarama)
	if err != nil {
		return nil, fmt.Errorf("reset %s: connect: %w", s.name, err)
	}
	defer client.Close()
	offsets, err := resetOffsets(client, s.Topics(), to)
	if err != nil {
		return nil, fmt.Errorf("reset %s: %w", s.name, err)
	}
	if s.cfg.OnReset != nil {
		if err := s.cfg.OnReset(ctx, offsets); err != nil {
			return nil, fmt.Errorf("reset %s: %w", s.name, err)
		}
	}
	if err := commitGroup(ctx, client, s.name, offsets); err != nil {
		return nil, fmt.Errorf("reset %s: %w", s.name, err)
	}
	s.cfg.Logger.Info("subscriber reset", "subscriber", s.name, "to", to.String(), "partitions", len(offsets))
	return offsets, nil
}
