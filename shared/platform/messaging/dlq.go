package messaging

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"
)

// DeadLetter is an event waiting in a subscriber's dead-letter topic.
type DeadLetter struct {
	EventID   string    `json:"id"`
	Stream    string    `json:"stream"`
	EventType string    `json:"type"`
	Error     string    `json:"error"`
	Attempts  int       `json:"attempts"`
	Parked    bool      `json:"parked"` // behind an earlier failure, not failed itself
	At        time.Time `json:"at"`
	Partition int32     `json:"partition"`
	Offset    int64     `json:"offset"`
}

// redriveGroup is the consumer group whose committed offsets in the
// dead-letter topic mark how far it has been redriven.
func (s *Subscriber) redriveGroup() string { return s.name + ".dlq-redrive" }

// dlqCursor reads the dead-letter topic from the redrive offsets, which it
// keeps as simple (memberless) commits of the redrive group.
type dlqCursor struct {
	client   sarama.Client
	consumer sarama.Consumer
	group    string
	topic    string
}

func (s *Subscriber) openDLQ() (*dlqCursor, error) {
	client, err := sarama.NewClient(s.cfg.Brokers, s.cfg.Sarama)
	if err != nil {
		return nil, fmt.Errorf("dead letters of %s: connect: %w", s.name, err)
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("dead letters of %s: %w", s.name, err)
	}
	return &dlqCursor{client: client, consumer: consumer, group: s.redriveGroup(), topic: DLQTopic(s.name)}, nil
}

func (c *dlqCursor) close() {
	_ = c.consumer.Close()
	_ = c.client.Close()
}

// committed returns the redrive group's committed offset of p, or -1. A
// group that never committed is "no offset" (Kafka answers that with empty
// offsets, kfake with GROUP_ID_NOT_FOUND).
func (c *dlqCursor) committed(p int32) (int64, error) {
	var offset int64
	err := withCoordinator(c.client, c.group, func(coord *sarama.Broker) error {
		req := &sarama.OffsetFetchRequest{Version: 5, ConsumerGroup: c.group}
		req.AddPartition(c.topic, p)
		resp, err := coord.FetchOffset(req)
		if err != nil {
			return err
		}
		if errors.Is(resp.Err, sarama.ErrGroupIDNotFound) {
			offset = -1
			return nil
		}
		if resp.Err != sarama.ErrNoError {
			return resp.Err
		}
		b := resp.GetBlock(c.topic, p)
		if b == nil {
			offset = -1
			return nil
		}
		if b.Err != sarama.ErrNoError && !errors.Is(b.Err, sarama.ErrGroupIDNotFound) {
			return b.Err
		}
		offset = b.Offset
		return nil
	})
	return offset, err
}

// withCoordinator runs fn against the group's coordinator, finding it again
// and retrying (for up to 30 s) while the coordinator is moving or still
// loading: on a fresh cluster the offsets topic does not exist until the
// first group asks for it, and the first requests answer NOT_COORDINATOR or
// COORDINATOR_LOAD_IN_PROGRESS.
func withCoordinator(client sarama.Client, group string, fn func(*sarama.Broker) error) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		coord, err := client.Coordinator(group)
		if err == nil {
			err = fn(coord)
		}
		retriable := errors.Is(err, sarama.ErrNotCoordinatorForConsumer) ||
			errors.Is(err, sarama.ErrOffsetsLoadInProgress) ||
			errors.Is(err, sarama.ErrConsumerCoordinatorNotAvailable)
		if err == nil || !retriable || time.Now().After(deadline) {
			return err
		}
		_ = client.RefreshCoordinator(group)
		time.Sleep(200 * time.Millisecond)
	}
}

// commit records that every dead letter of p below next is settled.
func (c *dlqCursor) commit(p int32, next int64) error {
	return withCoordinator(c.client, c.group, func(coord *sarama.Broker) error {
		req := &sarama.OffsetCommitRequest{Version: 5, ConsumerGroup: c.group, ConsumerGroupGeneration: -1}
		req.AddBlock(c.topic, p, next, 0, "")
		resp, err := coord.CommitOffset(req)
		if err != nil {
			return err
		}
		if kerr := resp.Errors[c.topic][p]; kerr != sarama.ErrNoError {
			return kerr
		}
		return nil
	})
}

// position returns the first outstanding offset of p and its end offset
// (the next offset to be written).
func (c *dlqCursor) position(p int32) (next, end int64, err error) {
	if next, err = c.committed(p); err != nil {
		return 0, 0, err
	}
	if end, err = c.client.GetOffset(c.topic, p, sarama.OffsetNewest); err != nil {
		return 0, 0, err
	}
	start, err := c.client.GetOffset(c.topic, p, sarama.OffsetOldest)
	if err != nil {
		return 0, 0, err
	}
	if next < start {
		next = start // never redriven (or retention removed some)
	}
	return next, end, nil
}

// each calls fn for every outstanding dead letter of partition p, in order,
// from the redrive offset to the end as of the call. fn returning an error
// stops the walk.
func (c *dlqCursor) each(ctx context.Context, p int32, fn func(*sarama.ConsumerMessage) error) error {
	next, end, err := c.position(p)
	if err != nil || next >= end {
		return err
	}
	pc, err := c.consumer.ConsumePartition(c.topic, p, next)
	if err != nil {
		return err
	}
	defer pc.Close()
	for {
		select {
		case msg := <-pc.Messages():
			if err := fn(msg); err != nil {
				return err
			}
			if msg.Offset+1 >= end {
				return nil
			}
		case cerr := <-pc.Errors():
			return cerr
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (c *dlqCursor) partitions() ([]int32, error) { return c.client.Partitions(c.topic) }

// loadParked rebuilds the parked streams from the outstanding dead letters,
// so a restart keeps parking behind them.
func (s *Subscriber) loadParked(ctx context.Context) error {
	c, err := s.openDLQ()
	if err != nil {
		return err
	}
	defer c.close()
	parts, err := c.partitions()
	if err != nil {
		return err
	}
	for _, p := range parts {
		err := c.each(ctx, p, func(msg *sarama.ConsumerMessage) error {
			if stream := headersOf(msg.Headers)[HeaderStream]; stream != "" {
				s.mu.Lock()
				s.parked[stream] = true
				s.mu.Unlock()
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// DeadLetters lists the events waiting in the subscriber's dead-letter
// topic (not yet redriven), in order per partition. It does not need Run.
func (s *Subscriber) DeadLetters(ctx context.Context) ([]DeadLetter, error) {
	if err := EnsureTopics(s.cfg.Brokers, s.cfg.Sarama, DLQTopic(s.name)); err != nil {
		return nil, err
	}
	c, err := s.openDLQ()
	if err != nil {
		return nil, err
	}
	defer c.close()
	parts, err := c.partitions()
	if err != nil {
		return nil, err
	}
	var out []DeadLetter
	for _, p := range parts {
		err := c.each(ctx, p, func(msg *sarama.ConsumerMessage) error {
			h := headersOf(msg.Headers)
			attempts, _ := strconv.Atoi(h[HeaderDLQAttempts])
			at, _ := time.Parse(time.RFC3339Nano, h[HeaderDLQAt])
			out = append(out, DeadLetter{
				EventID: h[HeaderEventID], Stream: h[HeaderStream], EventType: h[HeaderEventType],
				Error: h[HeaderDLQError], Attempts: attempts, Parked: strings.HasPrefix(h[HeaderDLQError], "parked behind"),
				At: at, Partition: msg.Partition, Offset: msg.Offset,
			})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("dead letters of %s: %w", s.name, err)
		}
	}
	return out, nil
}

// Redrive feeds the outstanding dead letters back to this subscriber's
// handlers (never to another group), in order per stream, and unparks each
// stream once everything dead-lettered for it has been handled. It is meant
// to run while Run does, in the same process; it returns how many events
// were handled. A dead letter that still fails stops the redrive of its
// partition and is reported; it stays, with everything behind it.
func (s *Subscriber) Redrive(ctx context.Context) (int, error) {
	c, err := s.openDLQ()
	if err != nil {
		return 0, err
	}
	defer c.close()
	parts, err := c.partitions()
	if err != nil {
		return 0, err
	}
	handled := 0
	for _, p := range parts {
		streams := map[string]bool{}
		done := map[string]bool{} // event ids redriven in this call (the DLQ may hold duplicates)
		for {
			var failed error
			err := c.each(ctx, p, func(msg *sarama.ConsumerMessage) error {
				h := headersOf(msg.Headers)
				m, _ := metaFrom(h)
				m.Topic, m.Partition, m.Offset = msg.Topic, msg.Partition, msg.Offset
				streams[m.Stream] = true
				if m.EventID == "" || !done[m.EventID] {
					rec := Message{Key: string(msg.Key), Value: msg.Value, Headers: h, Timestamp: msg.Timestamp}
					if err := s.handle(ctx, rec, m, true); err != nil {
						failed = err
						return err
					}
					done[m.EventID] = true
					handled++
				}
				return c.commit(p, msg.Offset+1)
			})
			if failed != nil {
				return handled, failed
			}
			if err != nil {
				return handled, fmt.Errorf("redrive %s: %w", s.name, err)
			}
			// Caught up: unpark under the lock that every dead-letter write
			// takes, unless a new dead letter arrived meanwhile.
			s.mu.Lock()
			next, end, err := c.position(p)
			if err == nil && next >= end {
				for st := range streams {
					delete(s.parked, st)
				}
			}
			s.mu.Unlock()
			if err != nil {
				return handled, fmt.Errorf("redrive %s: %w", s.name, err)
			}
			if next >= end {
				break
			}
		}
	}
	return handled, nil
}
