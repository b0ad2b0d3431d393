package service

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/troupe-dev/troupe/projections/model"
	"github.com/troupe-dev/troupe/shared/events"
	"github.com/troupe-dev/troupe/shared/platform/messaging"
	"github.com/troupe-dev/troupe/shared/platform/readmodel"
)

// Rebuild rebuilds the read model from the oldest offset of every topic
// into a new generation beside the live one, which keeps serving and
// updating meanwhile. Once the new generation has reached the partition
// ends seen at the start and every offset the live one has applied, the
// alias switches to it in one atomic step and the old generation's keys
// are dropped. Queries never see a half-built model. A rebuild only writes
// the read model: it has no other side effects. progress, if not nil, is
// called from time to time with records read and records to read (the
// total seen at the start). On error or cancellation the new generation
// is dropped and the live one is untouched.
//
// It reads partitions directly (no consumer group), applying each
// partition's records in batches of Config.RebuildBatch per Lua call.
func (s *Service) Rebuild(ctx context.Context, progress func(done, total int64)) (err error) {
	ns := s.model.Namespace()
	old, err := ns.Live(ctx, s.rdb)
	if err != nil && !errors.Is(err, readmodel.ErrNoModel) {
		return err
	}
	gen := readmodel.NewGeneration()
	log := s.cfg.Logger.With("generation", gen, "replacing", old)
	defer func() {
		if err != nil {
			// A fresh context: the caller's may be what ended the rebuild.
			dropCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			_ = ns.Drop(dropCtx, s.rdb, gen)
		}
	}()
	if err := messaging.EnsureTopics(s.cfg.Brokers, s.cfg.Sarama, s.cfg.Topics...); err != nil {
		return fmt.Errorf("rebuild: %w", err)
	}
	client, err := sarama.NewClient(s.cfg.Brokers, s.cfg.Sarama)
	if err != nil {
		return fmt.Errorf("rebuild: connect: %w", err)
	}
	defer client.Close()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return fmt.Errorf("rebuild: %w", err)
	}
	defer consumer.Close()

	type part struct {
		topic      string
		p          int32
		start, end int64
		pos        atomic.Int64 // next offset to apply
		pc         sarama.PartitionConsumer
	}
	var parts []*part
	var total int64
	for _, t := range s.cfg.Topics {
		ps, err := client.Partitions(t)
		if err != nil {
			return fmt.Errorf("rebuild: partitions of %s: %w", t, err)
		}
		for _, p := range ps {
			start, err := client.GetOffset(t, p, sarama.OffsetOldest)
			if err != nil {
				return fmt.Errorf("rebuild: %s/%d: %w", t, p, err)
			}
			end, err := client.GetOffset(t, p, sarama.OffsetNewest)
			if err != nil {
				return fmt.Errorf("rebuild: %s/%d: %w", t, p, err)
			}
			pt := &part{topic: t, p: p, start: start, end: end}
			pt.pos.Store(start)
			total += end - start
			parts = append(parts, pt)
		}
	}
	if err := s.model.Applier().Load(ctx, s.rdb); err != nil {
		return err
	}
	log.Info("projections: rebuild started", "records", total)

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, len(parts))
	for _, pt := range parts {
		pc, err := consumer.ConsumePartition(pt.topic, pt.p, pt.start)
		if err != nil {
			return fmt.Errorf("rebuild: consume %s/%d: %w", pt.topic, pt.p, err)
		}
		pt.pc = pc
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer pt.pc.AsyncClose()
			if err := s.rebuildPartition(runCtx, gen, pt.pc, &pt.pos); err != nil && runCtx.Err() == nil {
				errc <- fmt.Errorf("rebuild %s/%d: %w", pt.topic, pt.p, err)
			}
		}()
	}
	stop := func() { cancel(); wg.Wait() }

	report := func() {
		if progress == nil {
			return
		}
		var done int64
		for _, pt := range parts {
			done += min(pt.pos.Load(), pt.end) - pt.start
		}
		progress(done, total)
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			stop()
			return ctx.Err()
		case err := <-errc:
			stop()
			return err
		case <-tick.C:
		}
		report()
		caught := true
		for _, pt := range parts {
			if pt.pos.Load() < pt.end {
				caught = false
				break
			}
		}
		if !caught {
			continue
		}
		switched, err := ns.Switch(ctx, s.rdb, old, gen)
		if err != nil {
			stop()
			return err
		}
		if switched {
			// Records the partitions deliver after this are the live
			// subscriber's to apply (to this generation, now live).
			stop()
			report()
			log.Info("projections: rebuild switched")
			return ns.Drop(ctx, s.rdb, old)
		}
		// The live generation applied records we have not reached yet:
		// the partition consumers keep reading; try again next tick.
	}
}

// rebuildPartition applies one partition's records to gen in batches:
// whatever has arrived, up to the batch size, goes in one Lua call.
func (s *Service) rebuildPartition(ctx context.Context, gen string, pc sarama.PartitionConsumer, pos *atomic.Int64) error {
	reg := events.NewRegistry()
	batch := make([]readmodel.Event, 0, s.cfg.RebuildBatch)
	for {
		var msg *sarama.ConsumerMessage
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-pc.Errors():
			return err
		case msg = <-pc.Messages():
		}
		batch = batch[:0]
		var next int64
	fill:
		for {
			if ev, ok := s.decode(reg, msg); ok {
				batch = append(batch, ev)
			}
			next = msg.Offset + 1
			if len(batch) == cap(batch) {
				break
			}
			select {
			case msg = <-pc.Messages():
			default:
				break fill
			}
		}
		if _, err := s.model.Applier().Apply(ctx, s.rdb, gen, batch...); err != nil {
			return err
		}
		pos.Store(next)
	}
}

// decode turns a record into an applier event; a record that cannot be
// projected is logged and skipped (the live subscriber dead-letters it).
func (s *Service) decode(reg *events.Registry, msg *sarama.ConsumerMessage) (readmodel.Event, bool) {
	h := make(map[string]string, len(msg.Headers))
	for _, rh := range msg.Headers {
		if rh != nil {
			h[string(rh.Key)] = string(rh.Value)
		}
	}
	rev, _ := strconv.ParseUint(h[messaging.HeaderRevision], 10, 64)
	at, _ := time.Parse(time.RFC3339Nano, h[messaging.HeaderOccurredAt])
	src := model.Source{Stream: h[messaging.HeaderStream], Revision: rev, OccurredAt: at,
		Topic: msg.Topic, Partition: msg.Partition, Offset: msg.Offset}
	e, err := reg.Decode(h[messaging.HeaderEventType], msg.Value)
	if err == nil && src.Stream == "" {
		err = errors.New("no stream header")
	}
	var ev readmodel.Event
	if err == nil {
		ev, err = model.Encode(e, src)
	}
	if err != nil {
		s.cfg.Logger.Warn("projections: rebuild skips a record", "topic", msg.Topic, "partition", msg.Partition,
			"offset", msg.Offset, "err", err)
		return ev, false
	}
	return ev, true
}

// Rebuild rebuilds the named read model of the platform described by cfg
// (see Service.Rebuild), for the CLI's `troupe replay projection <name>`.
// The only name is Name ("projections").
func Rebuild(ctx context.Context, cfg Config, name string, progress func(done, total int64)) error {
	if name != Name {
		return fmt.Errorf("unknown read model %q: the only one is %q", name, Name)
	}
	s, err := New(cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	return s.Rebuild(ctx, progress)
}
