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
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/troupe-dev/troupe/projections/model"
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
// It reads partitions directly (no consumer group), decoding each in its
// own goroutine, and folds the records of all partitions in Go
// (model.Folder: what apply.lua would decide, with one write per key and
// batch of at most Config.RebuildBatch records), one pipelined batch at a
// time while the next is folded.
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
	for _, t := range s.cfg.Topics {
		ps, err := client.Partitions(t)
		if err != nil {
			return fmt.Errorf("rebuild: partitions of %s: %w", t, err)
		}
		for _, p := range ps {
			parts = append(parts, &part{topic: t, p: p})
		}
	}
	// Each partition's bounds, then its consumer (which asks for them
	// again): four round trips to the broker each, so made for all
	// partitions at once rather than one after the other, once a first
	// request has connected each leader (sarama fails a request racing
	// with the connection it opens).
	leaders := map[int32]bool{}
	for _, pt := range parts {
		b, err := client.Leader(pt.topic, pt.p)
		if err != nil {
			return fmt.Errorf("rebuild: leader of %s/%d: %w", pt.topic, pt.p, err)
		}
		if !leaders[b.ID()] {
			leaders[b.ID()] = true
			if _, err := client.GetOffset(pt.topic, pt.p, sarama.OffsetOldest); err != nil {
				return fmt.Errorf("rebuild: %s/%d: %w", pt.topic, pt.p, err)
			}
		}
	}
	var starting errgroup.Group
	for _, pt := range parts {
		starting.Go(func() error {
			var err error
			if pt.start, err = client.GetOffset(pt.topic, pt.p, sarama.OffsetOldest); err != nil {
				return fmt.Errorf("rebuild: %s/%d: %w", pt.topic, pt.p, err)
			}
			if pt.end, err = client.GetOffset(pt.topic, pt.p, sarama.OffsetNewest); err != nil {
				return fmt.Errorf("rebuild: %s/%d: %w", pt.topic, pt.p, err)
			}
			pt.pos.Store(pt.start)
			if pt.pc, err = consumer.ConsumePartition(pt.topic, pt.p, pt.start); err != nil {
				return fmt.Errorf("rebuild: consume %s/%d: %w", pt.topic, pt.p, err)
			}
			return nil
		})
	}
	if err := starting.Wait(); err != nil {
		for _, pt := range parts {
			if pt.pc != nil {
				pt.pc.AsyncClose()
			}
		}
		return err
	}
	var total int64
	for _, pt := range parts {
		total += pt.end - pt.start
	}
	log.Info("projections: rebuild started", "records", total)

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, len(parts)+2)
	fail := func(err error) {
		if err != nil && runCtx.Err() == nil {
			errc <- err
		}
	}
	// Records go to the folder in runs of a partition's consecutive
	// records (one channel operation per run, not per record); a folded
	// run's slice is reused.
	records := make(chan []record, 128)
	free := make(chan []record, 256)
	for _, pt := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer pt.pc.AsyncClose()
			if err := s.readPartition(runCtx, pt.pc, &pt.pos, records, free); err != nil {
				fail(fmt.Errorf("rebuild %s/%d: %w", pt.topic, pt.p, err))
			}
		}()
	}
	caught := func() bool {
		for _, pt := range parts {
			if pt.pos.Load() < pt.end {
				return false
			}
		}
		return true
	}
	// The writer switches: a folded batch must never land after the
	// switch, when the live subscriber applies to this generation too
	// (the folder decides from memory, not from what Redis holds).
	switchTo := func() (bool, error) {
		if !caught() {
			return false, nil
		}
		return ns.Switch(runCtx, s.rdb, old, gen)
	}
	writer, closeWriter := s.batchWriter()
	defer closeWriter()
	// Unbuffered: a batch keeps growing until the writer takes it. A
	// written batch goes back to the folder to be reused.
	batches := make(chan foldedBatch)
	spent := make(chan *model.FoldBatch, 1)
	switched := make(chan struct{})
	wg.Add(2)
	go func() {
		defer wg.Done()
		fail(s.fold(runCtx, gen, records, free, batches, spent))
	}()
	go func() {
		defer wg.Done()
		ok, err := s.writeBatches(runCtx, writer, gen, batches, spent, switchTo)
		fail(err)
		if ok {
			close(switched)
		}
	}()
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
		case <-switched:
			// Records the partitions deliver after this are the live
			// subscriber's to apply (to this generation, now live).
			stop()
			report()
			log.Info("projections: rebuild switched")
			return ns.Drop(ctx, s.rdb, old)
		case <-tick.C:
			report()
		}
	}
}

// batchWriter returns the client a rebuild writes its folded batches
// with: one that never retries a pipeline and waits long for its answer.
// A folded batch is not idempotent (counters are incremented), and
// go-redis retries a pipeline after a read timeout, which would apply a
// batch Redis had already executed a second time; failing the rebuild
// instead drops its generation and leaves the live one untouched.
func (s *Service) batchWriter() (redis.Cmdable, func()) {
	c, ok := s.rdb.(*redis.Client)
	if !ok {
		// Not a single-node client: keep its own settings.
		return s.rdb, func() {}
	}
	opts := *c.Options()
	opts.MaxRetries = -1
	opts.ReadTimeout = time.Minute
	opts.WriteTimeout = time.Minute
	opts.PoolSize = 1
	w := redis.NewClient(&opts)
	return w, func() { _ = w.Close() }
}

// record is one record of a partition for the folder: its event, or
// ok false for a record that cannot be projected (only its position counts).
type record struct {
	ev   readmodel.Event
	ok   bool
	next int64
	pos  *atomic.Int64
}

// foldedBatch is a folded batch and the partition positions it reaches.
type foldedBatch struct {
	writes *model.FoldBatch
	pos    map[*atomic.Int64]int64
}

// runLen is at most how many records a run holds.
const runLen = 64

// readPartition decodes a partition's records and hands them to the
// folder in order, in runs of those that have arrived (up to runLen).
func (s *Service) readPartition(ctx context.Context, pc sarama.PartitionConsumer, pos *atomic.Int64,
	out chan<- []record, free chan []record) error {
	dec := model.NewDecoder()
	for {
		var msg *sarama.ConsumerMessage
		select {
		case <-ctx.Done():
			return nil
		case err := <-pc.Errors():
			return err
		case msg = <-pc.Messages():
		}
		var run []record
		select {
		case run = <-free:
		default:
			run = make([]record, 0, runLen)
		}
		for {
			ev, ok := s.decode(dec, msg)
			run = append(run, record{ev: ev, ok: ok, next: msg.Offset + 1, pos: pos})
			if len(run) == runLen {
				break
			}
			select {
			case msg = <-pc.Messages():
				continue
			default:
			}
			break
		}
		select {
		case <-ctx.Done():
			return nil
		case out <- run:
		}
	}
}

// fold folds records into batches for the writer. A batch grows while
// the writer writes the previous one, up to RebuildBatch records: the
// busier Redis is, the more of each key's writes one command carries. The
// writer gets a batch as soon as it is free and the batch holds at least
// minBatch records, or whatever is folded when no record is waiting.
func (s *Service) fold(ctx context.Context, gen string, in <-chan []record, free chan<- []record,
	out chan<- foldedBatch, spent <-chan *model.FoldBatch) error {
	f := s.model.Folder(gen)
	minBatch := min(s.cfg.RebuildBatch, 2048)
	n, pos := 0, map[*atomic.Int64]int64{}
	batch := func() foldedBatch { return foldedBatch{writes: f.Batch(), pos: pos} }
	handed := func() {
		select {
		case b := <-spent:
			f.Reuse(b)
		default:
		}
		f.Take()
		n, pos = 0, map[*atomic.Int64]int64{}
	}
	// add folds a run, handing full batches over on the way; false when
	// ctx ended first.
	add := func(run []record) (bool, error) {
		for _, r := range run {
			if n >= s.cfg.RebuildBatch {
				select {
				case <-ctx.Done():
					return false, nil
				case out <- batch():
					handed()
				}
			}
			if r.ok {
				if err := f.Fold(r.ev); err != nil {
					return false, err
				}
			}
			pos[r.pos] = r.next
			n++
		}
		clear(run)
		select {
		case free <- run[:0]:
		default:
		}
		return true, nil
	}
	for {
		if n >= minBatch {
			select {
			case out <- batch():
				handed()
				continue
			default:
			}
		}
		var run []record
		select {
		case run = <-in:
		default:
			// No record waiting: hand over what is folded as soon as
			// the writer is free, or fold the next run to come.
			var to chan<- foldedBatch
			if n > 0 {
				to = out
			}
			select {
			case <-ctx.Done():
				return nil
			case to <- batch():
				handed()
				continue
			case run = <-in:
			}
		}
		if ok, err := add(run); !ok || err != nil {
			return err
		}
	}
}

// writeBatches writes folded batches in order, one pipeline each, then
// moves the partitions' positions and hands the batch back to be reused;
// after each batch, and every 20 ms when none comes, it tries switchTo,
// and stops writing (reporting true) once that switched.
func (s *Service) writeBatches(ctx context.Context, rdb redis.Cmdable, gen string, in <-chan foldedBatch,
	spent chan<- *model.FoldBatch, switchTo func() (bool, error)) (bool, error) {
	ns := s.model.Namespace()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return false, nil
		case b := <-in:
			pipe := rdb.Pipeline()
			b.writes.Queue(ctx, pipe, ns, gen)
			if _, err := pipe.Exec(ctx); err != nil {
				return false, fmt.Errorf("write a folded batch: %w", err)
			}
			for p, next := range b.pos {
				p.Store(next)
			}
			select {
			case spent <- b.writes:
			default:
			}
		case <-tick.C:
		}
		switched, err := switchTo()
		if err != nil || switched {
			return switched, err
		}
	}
}

// decode turns a record into an applier event; a record that cannot be
// projected is logged and skipped (the live subscriber dead-letters it).
func (s *Service) decode(dec *model.Decoder, msg *sarama.ConsumerMessage) (readmodel.Event, bool) {
	// The four headers read, without building a map of all of them.
	var stream, typ, revision, occurred string
	for _, rh := range msg.Headers {
		if rh == nil {
			continue
		}
		switch string(rh.Key) {
		case messaging.HeaderStream:
			stream = string(rh.Value)
		case messaging.HeaderEventType:
			typ = string(rh.Value)
		case messaging.HeaderRevision:
			revision = string(rh.Value)
		case messaging.HeaderOccurredAt:
			occurred = string(rh.Value)
		}
	}
	rev, _ := strconv.ParseUint(revision, 10, 64)
	at, _ := time.Parse(time.RFC3339Nano, occurred)
	src := model.Source{Stream: stream, Revision: rev, OccurredAt: at,
		Topic: msg.Topic, Partition: msg.Partition, Offset: msg.Offset}
	e, err := dec.Decode(typ, msg.Value)
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
