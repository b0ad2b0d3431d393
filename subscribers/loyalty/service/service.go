// Package service wires the loyalty subscriber: its consumer of
// payments.events, its Redis read model and its query API. Other programs
// (troupe up, troupe serve loyalty) run it through New, Routes, Run and
// Ready.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"

	"github.com/troupe-dev/troupe/shared/events"
	"github.com/troupe-dev/troupe/shared/platform/httpapi"
	"github.com/troupe-dev/troupe/shared/platform/messaging"
	"github.com/troupe-dev/troupe/shared/platform/readmodel"
	"github.com/troupe-dev/troupe/subscribers/loyalty/points"
	"github.com/troupe-dev/troupe/subscribers/loyalty/ports"
)

// Name is the loyalty subscriber's stable name: its consumer group and the
// prefix of its dead-letter topic. Renaming it re-consumes all history.
const Name = "loyalty"

// Config configures the loyalty service. Zero fields take the defaults
// documented on each.
type Config struct {
	// Brokers is the Kafka bootstrap list. Required.
	Brokers []string
	// Redis is the read store; or give RedisURL ("redis://host:port/db")
	// and the service opens (and Close closes) its own client.
	Redis    redis.UniversalClient
	RedisURL string
	// Auth verifies bearer tokens. Required for Routes.
	Auth *httpapi.Auth
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Name is the consumer group; default Name. Tests set a unique one.
	Name string
	// Topics default to payments.events.
	Topics []string
	// KeyPrefix prefixes every Redis key; default "troupe:rm:<Name>:".
	KeyPrefix string
	// Sarama defaults to messaging.NewSaramaConfig(Name).
	Sarama *sarama.Config
	// MaxAttempts, RetryInitial and RetryMax tune the SDK's retries (its
	// defaults when zero).
	MaxAttempts  int
	RetryInitial time.Duration
	RetryMax     time.Duration
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Name == "" {
		c.Name = Name
	}
	if len(c.Topics) == 0 {
		c.Topics = []string{messaging.TopicFor(events.ContextPayments)}
	}
	if c.KeyPrefix == "" {
		c.KeyPrefix = "troupe:rm:" + c.Name + ":"
	}
	if c.Sarama == nil {
		c.Sarama = messaging.NewSaramaConfig(c.Name)
	}
}

// Validate reports a configuration that cannot work.
func (c *Config) Validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("loyalty: no Kafka brokers")
	}
	if c.Redis == nil && c.RedisURL == "" {
		return errors.New("loyalty: no Redis (Redis or RedisURL)")
	}
	return nil
}

// Service is the loyalty subscriber with its read model and query API. Its
// methods are safe for concurrent use; Run is called once.
type Service struct {
	cfg      Config
	rdb      redis.UniversalClient
	ownRedis bool
	model    *points.Model
	sub      *messaging.Subscriber
	ends     *readmodel.EndOffsets
	running  atomic.Bool
}

// New builds the service; it does not connect to Kafka until Run.
func New(cfg Config) (*Service, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, rdb: cfg.Redis, model: points.New(cfg.KeyPrefix),
		ends: readmodel.NewEndOffsets(cfg.Brokers, cfg.Sarama, cfg.Name, cfg.Topics)}
	if s.rdb == nil {
		opts, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("loyalty: redis url: %w", err)
		}
		s.rdb, s.ownRedis = redis.NewClient(opts), true
	}
	sub, err := messaging.NewSubscriber(cfg.Name, messaging.SubscriberConfig{
		Brokers: cfg.Brokers, Sarama: cfg.Sarama, Topics: cfg.Topics, Logger: cfg.Logger,
		MaxAttempts: cfg.MaxAttempts, RetryInitial: cfg.RetryInitial, RetryMax: cfg.RetryMax,
		OnReset: s.onReset,
	})
	if err != nil {
		return nil, fmt.Errorf("loyalty: %w", err)
	}
	s.sub = sub
	messaging.Handle(sub, s.onCaptured)
	messaging.Handle(sub, s.onRefunded)
	return s, nil
}

func source(m messaging.Meta) points.Source {
	src := points.Source{Stream: m.Stream, Revision: m.Revision, Topic: m.Topic, Partition: m.Partition, Offset: m.Offset,
		OccurredAt: m.OccurredAt}
	if m.Redriven {
		src.Topic = "" // from the dead-letter topic: no position in the source topics
	}
	return src
}

// onReset moves the position stored with the points to where the group is
// being reset, so a restart resumes from there and does not undo the
// reset. The points themselves do not change: every event is applied once
// per (stream, revision), so re-driven history that was applied before is
// skipped, and only events never applied (none, unless some were lost)
// earn or reverse points.
func (s *Service) onReset(ctx context.Context, to []messaging.PartitionOffset) error {
	if len(to) == 0 {
		return nil
	}
	fields := make([]any, 0, 2*len(to))
	for _, po := range to {
		fields = append(fields, readmodel.OffsetField(po.Topic, po.Partition), po.Offset)
	}
	if err := s.rdb.HSet(ctx, s.model.OffsetsKey(), fields...).Err(); err != nil {
		return fmt.Errorf("loyalty: move the stored position: %w", err)
	}
	return nil
}

func (s *Service) onCaptured(ctx context.Context, e events.PaymentCaptured, m messaging.Meta) error {
	pts, err := points.For(e.AmountCents)
	if err != nil {
		return fmt.Errorf("payment %s of order %s: %w", e.PaymentID, e.OrderID, err)
	}
	_, err = s.model.Earn(ctx, s.rdb, source(m), e.CustomerID, pts)
	return err
}

func (s *Service) onRefunded(ctx context.Context, e events.PaymentRefunded, m messaging.Meta) error {
	pts, err := points.For(e.AmountCents)
	if err != nil {
		return fmt.Errorf("refund of order %s: %w", e.OrderID, err)
	}
	_, err = s.model.Reverse(ctx, s.rdb, source(m), e.CustomerID, pts)
	return err
}

// Close releases the Kafka client of Lag and the Redis client the service
// opened itself.
func (s *Service) Close() error {
	err := s.ends.Close()
	if s.ownRedis {
		err = errors.Join(err, s.rdb.Close())
	}
	return err
}

// Lag measures the read model's lag: the records on its topics past the
// offsets stored with the points (over one Kafka client kept for the
// service's life), and the age of the newest applied event.
func (s *Service) Lag(ctx context.Context) (readmodel.Lag, error) {
	offsets, err := s.model.Offsets(ctx, s.rdb)
	if err != nil {
		return readmodel.Lag{}, err
	}
	var l readmodel.Lag
	if l.Behind, err = s.ends.Behind(offsets); err != nil {
		return readmodel.Lag{}, fmt.Errorf("loyalty: %w", err)
	}
	if l.NewestApplied, err = s.model.NewestApplied(ctx, s.rdb); err != nil {
		return readmodel.Lag{}, err
	}
	if !l.NewestApplied.IsZero() {
		l.Age = time.Since(l.NewestApplied)
	}
	return l, nil
}

// GroupLag is the consumer group's lag in records, summed over its
// partitions (for metrics).
func (s *Service) GroupLag(context.Context) (int64, error) {
	parts, err := s.sub.Lag()
	if err != nil {
		return 0, err
	}
	var n int64
	for _, p := range parts {
		n += p.Lag
	}
	return n, nil
}

// Model returns the read model (for tools and tests).
func (s *Service) Model() *points.Model { return s.model }

// Subscriber returns the SDK subscriber (for lag, dead letters, redrive).
func (s *Service) Subscriber() *messaging.Subscriber { return s.sub }

// Subscribers returns the service's one subscriber, for the admin API.
func (s *Service) Subscribers() []*messaging.Subscriber { return []*messaging.Subscriber{s.sub} }

// Routes registers GET /api/customers/{customerId}/loyalty on e.
func (s *Service) Routes(e *echo.Echo) {
	h := &ports.HTTP{Model: s.model, Redis: s.rdb, Auth: s.cfg.Auth}
	h.Register(e)
}

// Run consumes until ctx ends and returns nil after a clean stop. It first
// positions the consumer group at the offsets stored in Redis with the
// points (the oldest offset where there are none), so a new deployment, or
// one whose Redis was emptied, catches up on all history, and what Redis
// holds and where consumption resumes always agree.
func (s *Service) Run(ctx context.Context) error {
	if err := messaging.EnsureTopics(s.cfg.Brokers, s.cfg.Sarama, s.cfg.Topics...); err != nil {
		return fmt.Errorf("loyalty: %w", err)
	}
	offsets, err := s.model.Offsets(ctx, s.rdb)
	if err != nil {
		return err
	}
	if err := s.seek(ctx, offsets); err != nil {
		return fmt.Errorf("loyalty: %w", err)
	}
	s.running.Store(true)
	defer s.running.Store(false)
	return s.sub.Run(ctx)
}

// seek positions the group at the model's stored offsets, or joins it as
// it is when another instance already feeds the model (see
// readmodel.PositionGroup).
func (s *Service) seek(ctx context.Context, offsets map[string]int64) error {
	return readmodel.PositionGroup(ctx, s.cfg.Brokers, s.cfg.Sarama, s.cfg.Name, s.cfg.Topics, offsets, s.cfg.Logger)
}

// Ready reports whether the service is consuming (Run has positioned its
// group and started the subscriber). It does no I/O.
func (s *Service) Ready() error {
	if !s.running.Load() {
		return errors.New("loyalty: not consuming")
	}
	return nil
}
