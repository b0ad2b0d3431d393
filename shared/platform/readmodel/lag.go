package readmodel

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// Lag is how far a read model is behind Kafka.
type Lag struct {
	// Behind is the number of records on the model's topics past its
	// stored offsets (including records of types it does not project).
	Behind int64
	// NewestApplied is the occurred-at time of the newest event applied
	// (zero when nothing was applied); Age is how long ago that was.
	NewestApplied time.Time
	Age           time.Duration
}

// Thresholds above which a read model counts as lagging: more than
// LagEvents records behind, or behind at all while its newest applied event
// is older than LagAge. Lagging is reported, not judged: a lagging model
// stays ready.
const (
	LagEvents = 1000
	LagAge    = 30 * time.Second
)

// Lagging reports whether l is past the thresholds (LagEvents, LagAge).
func (l Lag) Lagging() bool {
	return l.Behind > LagEvents || (l.Behind > 0 && l.Age > LagAge)
}

// EndOffsets measures a read model's stored offsets against the partition
// ends of its topics over one long-lived Kafka client, with one ListOffsets
// request per broker and direction and one OffsetFetch of the model's
// consumer group, so measuring often stays cheap. It connects on first use
// and reconnects after an error. It is safe for concurrent use.
type EndOffsets struct {
	brokers []string
	cfg     *sarama.Config
	group   string
	topics  []string

	mu     sync.Mutex
	client sarama.Client
}

// NewEndOffsets returns an EndOffsets over topics for the model fed by
// consumer group ("" for none); it does not connect yet.
func NewEndOffsets(brokers []string, cfg *sarama.Config, group string, topics []string) *EndOffsets {
	return &EndOffsets{brokers: brokers, cfg: cfg, group: group, topics: append([]string(nil), topics...)}
}

// Close closes the Kafka client, if one is open. A later Behind reconnects.
func (o *EndOffsets) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.client == nil {
		return nil
	}
	err := o.client.Close()
	o.client = nil
	return err
}

// Behind returns how many records the topics hold past the model's
// position: per partition, the later of stored (next offset, keyed by
// OffsetField) and the group's committed offset, since records the
// subscriber skipped (types the model does not project) move the commit
// but are never stored. A partition with neither, or below the oldest
// retained offset, counts from the oldest. The committed offsets are a
// refinement: when they cannot be fetched, stored alone is used.
func (o *EndOffsets) Behind(stored map[string]int64) (int64, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n, err := o.behind(stored)
	if err != nil && o.client != nil {
		// The next call starts from a fresh connection and metadata.
		_ = o.client.Close()
		o.client = nil
	}
	return n, err
}

func (o *EndOffsets) behind(stored map[string]int64) (int64, error) {
	if o.client == nil {
		c, err := sarama.NewClient(o.brokers, o.cfg)
		if err != nil {
			return 0, fmt.Errorf("lag: connect: %w", err)
		}
		o.client = c
	}
	byLeader := map[*sarama.Broker][]topicPartition{}
	for _, t := range o.topics {
		parts, err := o.client.Partitions(t)
		if err != nil {
			return 0, fmt.Errorf("lag: partitions of %s: %w", t, err)
		}
		for _, p := range parts {
			b, err := o.client.Leader(t, p)
			if err != nil {
				return 0, fmt.Errorf("lag: leader of %s/%d: %w", t, p, err)
			}
			byLeader[b] = append(byLeader[b], topicPartition{t, p})
		}
	}
	committed := o.committed()
	var behind int64
	for b, tps := range byLeader {
		ends, err := o.list(b, sarama.OffsetNewest, tps)
		if err != nil {
			return 0, err
		}
		starts, err := o.list(b, sarama.OffsetOldest, tps)
		if err != nil {
			return 0, err
		}
		for i, x := range tps {
			f := OffsetField(x.topic, x.p)
			at := max(stored[f], committed[f], starts[i])
			if ends[i] > at {
				behind += ends[i] - at
			}
		}
	}
	return behind, nil
}

// committed returns the group's committed offsets, keyed by OffsetField;
// none when there is no group, it never committed, or the fetch failed.
func (o *EndOffsets) committed() map[string]int64 {
	if o.group == "" {
		return nil
	}
	req := &sarama.OffsetFetchRequest{Version: 5, ConsumerGroup: o.group}
	for _, t := range o.topics {
		parts, err := o.client.Partitions(t)
		if err != nil {
			return nil
		}
		for _, p := range parts {
			req.AddPartition(t, p)
		}
	}
	coord, err := o.client.Coordinator(o.group)
	if err != nil {
		return nil
	}
	resp, err := coord.FetchOffset(req)
	if err != nil || !errors.Is(resp.Err, sarama.ErrNoError) {
		// GROUP_ID_NOT_FOUND (kfake) means never committed; a moved
		// coordinator is looked up again next time.
		_ = o.client.RefreshCoordinator(o.group)
		return nil
	}
	out := map[string]int64{}
	for t, ps := range resp.Blocks {
		for p, b := range ps {
			if b != nil && errors.Is(b.Err, sarama.ErrNoError) && b.Offset >= 0 {
				out[OffsetField(t, p)] = b.Offset
			}
		}
	}
	return out
}

type topicPartition struct {
	topic string
	p     int32
}

// list asks broker b for one offset of each of tps (at: OffsetNewest or
// OffsetOldest), in the order of tps.
func (o *EndOffsets) list(b *sarama.Broker, at int64, tps []topicPartition) ([]int64, error) {
	req := sarama.NewOffsetRequest(o.cfg.Version)
	for _, x := range tps {
		req.AddBlock(x.topic, x.p, at, 1)
	}
	resp, err := b.GetAvailableOffsets(req)
	if err != nil {
		return nil, fmt.Errorf("lag: list offsets on %s: %w", b.Addr(), err)
	}
	out := make([]int64, 0, len(tps))
	for _, x := range tps {
		blk := resp.GetBlock(x.topic, x.p)
		switch {
		case blk == nil:
			return nil, fmt.Errorf("lag: list offsets of %s/%d: %w", x.topic, x.p, sarama.ErrIncompleteResponse)
		case !errors.Is(blk.Err, sarama.ErrNoError):
			return nil, fmt.Errorf("lag: list offsets of %s/%d: %w", x.topic, x.p, blk.Err)
		case len(blk.Offsets) == 1:
			out = append(out, blk.Offsets[0])
		default:
			out = append(out, blk.Offset)
		}
	}
	return out, nil
}
