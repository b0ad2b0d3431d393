package messaging

import (
	"context"
	"errors"
	"fmt"
	"slices"
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

// committed returns the redrive group's committed offset of p, or -1, and
// the offsets past it already settled one by one (RedriveID), which the
// commit keeps in its metadata. A group that never committed is "no
// offset" (Kafka answers that with empty offsets, kfake with
// GROUP_ID_NOT_FOUND).
func (c *dlqCursor) committed(p int32) (int64, map[int64]bool, error) {
	var offset int64
	settled := map[int64]bool{}
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
		settled = parseSettled(b.Metadata)
		return nil
	})
	return offset, settled, err
}

// settledPrefix starts the commit metadata listing offsets settled one by
// one past the committed offset.
const settledPrefix = "settled:"

func parseSettled(meta string) map[int64]bool {
	out := map[int64]bool{}
	rest, ok := strings.CutPrefix(meta, settledPrefix)
	if !ok {
		return out
	}
	for _, f := range strings.Split(rest, ",") {
		if o, err := strconv.ParseInt(f, 10, 64); err == nil {
			out[o] = true
		}
	}
	return out
}

// formatSettled keeps the settled offsets at or past next, sorted.
func formatSettled(next int64, settled map[int64]bool) string {
	var offs []int64
	for o := range settled {
		if o >= next {
			offs = append(offs, o)
		}
	}
	if len(offs) == 0 {
		return ""
	}
	slices.Sort(offs)
	parts := make([]string, len(offs))
	for i, o := range offs {
		parts[i] = strconv.FormatInt(o, 10)
	}
	return settledPrefix + strings.Join(parts, ",")
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

// commit records that every dead letter of p below next is settled, and
// of those past it the ones in settled.
func (c *dlqCursor) commit(p int32, next int64, settled map[int64]bool) error {
	meta := formatSettled(next, settled)
	return withCoordinator(c.client, c.group, func(coord *sarama.Broker) error {
		req := &sarama.OffsetCommitRequest{Version: 5, ConsumerGroup: c.group, ConsumerGroupGeneration: -1}
		req.AddBlock(c.topic, p, next, 0, meta)
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

// position returns the first outstanding offset of p, its end offset (the
// next offset to be written), and the offsets past next settled already.
// Outstanding means: at or past next, below end, and not settled.
func (c *dlqCursor) position(p int32) (next, end int64, settled map[int64]bool, err error) {
	if next, settled, err = c.committed(p); err != nil {
		return 0, 0, nil, err
	}
	if end, err = c.client.GetOffset(c.topic, p, sarama.OffsetNewest); err != nil {
		return 0, 0, nil, err
	}
	start, err := c.client.GetOffset(c.topic, p, sarama.OffsetOldest)
	if err != nil {
		return 0, 0, nil, err
	}
	if next < start {
		next = start // never redriven (or retention removed some)
	}
	for next < end && settled[next] {
		next++ // settled one by one, contiguous with the cursor
	}
	return next, end, settled, nil
}

// errStopWalk ends an each walk early without an error.
var errStopWalk = errors.New("stop walk")

// each calls fn for every outstanding dead letter of partition p, in order,
// from the redrive offset to the end as of the call, skipping those
// settled one by one. fn returning an error stops the walk.
func (c *dlqCursor) each(ctx context.Context, p int32, fn func(*sarama.ConsumerMessage) error) error {
	next, end, settled, err := c.position(p)
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
			if !settled[msg.Offset] {
				if err := fn(msg); err != nil {
					return err
				}
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
	s.redriveMu.Lock()
	defer s.redriveMu.Unlock()
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
			_, _, settled, err := c.position(p)
			if err != nil {
				return handled, fmt.Errorf("redrive %s: %w", s.name, err)
			}
			err = c.each(ctx, p, func(msg *sarama.ConsumerMessage) error {
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
				return c.commit(p, msg.Offset+1, settled)
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
			next, end, _, err := c.position(p)
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

// ErrNoDeadLetter is returned by RedriveID for an id that is not an
// outstanding dead letter of the subscriber.
var ErrNoDeadLetter = errors.New("no such dead letter")

// ErrRedriveOrder is returned by RedriveID for a dead letter that waits
// behind an earlier one of its stream: redriving it first would break the
// stream's order.
var ErrRedriveOrder = errors.New("dead letter waits behind an earlier one of its stream")

// RedriveID feeds the one outstanding dead letter with event id id back to
// this subscriber's handlers (every copy of it, should the topic hold it
// twice) and marks it settled; the stream is unparked once none of its
// dead letters is outstanding. Per-stream order is kept: a dead letter
// behind an earlier one of its stream is refused with ErrRedriveOrder. It
// returns how many events were handled (0 or 1); an unknown id is
// ErrNoDeadLetter, and a dead letter that still fails stays outstanding.
func (s *Subscriber) RedriveID(ctx context.Context, id string) (int, error) {
	s.redriveMu.Lock()
	defer s.redriveMu.Unlock()
	c, err := s.openDLQ()
	if err != nil {
		return 0, err
	}
	defer c.close()
	parts, err := c.partitions()
	if err != nil {
		return 0, err
	}
	for _, p := range parts {
		var target *sarama.ConsumerMessage
		var copies []int64
		var ahead DeadLetter // an earlier dead letter of the same stream
		err := c.each(ctx, p, func(msg *sarama.ConsumerMessage) error {
			h := headersOf(msg.Headers)
			if h[HeaderEventID] == id {
				if target == nil {
					target = msg
				}
				copies = append(copies, msg.Offset)
			}
			return nil
		})
		if err != nil {
			return 0, fmt.Errorf("redrive %s of %s: %w", id, s.name, err)
		}
		if target == nil {
			continue
		}
		h := headersOf(target.Headers)
		stream := h[HeaderStream]
		err = c.each(ctx, p, func(msg *sarama.ConsumerMessage) error {
			mh := headersOf(msg.Headers)
			if msg.Offset < target.Offset && mh[HeaderStream] == stream && mh[HeaderEventID] != id {
				ahead = DeadLetter{EventID: mh[HeaderEventID], Stream: stream}
				return errStopWalk
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStopWalk) {
			return 0, fmt.Errorf("redrive %s of %s: %w", id, s.name, err)
		}
		if ahead.EventID != "" {
			return 0, fmt.Errorf("redrive %s of %s: %w: redrive %s first, or all", id, stream, ErrRedriveOrder, ahead.EventID)
		}
		m, _ := metaFrom(h)
		m.Topic, m.Partition, m.Offset = target.Topic, target.Partition, target.Offset
		rec := Message{Key: string(target.Key), Value: target.Value, Headers: h, Timestamp: target.Timestamp}
		if err := s.handle(ctx, rec, m, true); err != nil {
			return 0, err
		}
		next, _, settled, err := c.position(p)
		if err != nil {
			return 1, fmt.Errorf("redrive %s of %s: %w", id, s.name, err)
		}
		for _, o := range copies {
			settled[o] = true
		}
		for settled[next] {
			next++
		}
		if err := c.commit(p, next, settled); err != nil {
			return 1, fmt.Errorf("redrive %s of %s: settle: %w", id, s.name, err)
		}
		// Unpark under the lock every dead-letter write takes, unless
		// another dead letter of the stream is still outstanding.
		s.mu.Lock()
		defer s.mu.Unlock()
		more := false
		err = c.each(ctx, p, func(msg *sarama.ConsumerMessage) error {
			if headersOf(msg.Headers)[HeaderStream] == stream {
				more = true
				return errStopWalk
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStopWalk) {
			return 1, fmt.Errorf("redrive %s of %s: %w", id, s.name, err)
		}
		if !more {
			delete(s.parked, stream)
		}
		return 1, nil
	}
	return 0, fmt.Errorf("%w: %q is not an outstanding dead letter of %s", ErrNoDeadLetter, id, s.name)
}
