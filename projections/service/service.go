// Package service wires the projections read model: the subscriber that
// feeds it from Kafka, the query API, blue-green rebuilds, and lag.
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

	"github.com/troupe-dev/troupe/projections/model"
	"github.com/troupe-dev/troupe/projections/ports"
	"github.com/troupe-dev/troupe/shared/events"
	"github.com/troupe-dev/troupe/shared/platform/httpapi"
	"github.com/troupe-dev/troupe/shared/platform/messaging"
	"github.com/troupe-dev/troupe/shared/platform/readmodel"
)

// Name is the projections subscriber's stable name (its consumer group).
const Name = "projections"

// ResetRefusal is why the projections subscriber refuses a consumer-group
// reset: the read model stores its Kafka offsets with its data and skips
// every event it has applied, so moving the group would change nothing (and
// be undone at the next start). A blue-green rebuild re-derives it instead.
const ResetRefusal = "projections keeps its position with its read model in Redis, so a group reset changes nothing; " +
	"rebuild it with `troupe replay projection projections`"

// Config configures the projections service. Zero fields take the
// defaults documented on each.
type Config struct {
	// Brokers is the Kafka bootstrap list. Required.
	Brokers []string
	// Redis is the read store; or give RedisURL ("redis://host:port/db")
	// and the service opens (and closes) its own client.
	Redis    redis.UniversalClient
	RedisURL string
	// Auth verifies bearer tokens. Required for Routes.
	Auth *httpapi.Auth
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Name is the consumer group; default Name. Tests set a unique one.
	Name string
	// Topics default to catalog.events, ordering.events, payments.events.
	Topics []string
	// KeyRoot prefixes every Redis key; default "troupe:rm:projections:".
	KeyRoot string
	// ConsistencyTimeout bounds a Troupe-Consistency wait; default 5 s.
	ConsistencyTimeout time.Duration
	// Sarama defaults to messaging.NewSaramaConfig(Name).
	Sarama *sarama.Config
	// RebuildBatch is at most how many records a rebuild folds into one
	// pipelined write (model.Folder); default 32768. A batch grows up to
	// it only while the previous one is being written.
	RebuildBatch int
	// RebuildProgress, when set, is called during the rebuild Run makes on
	// an empty Redis with records read and records to read (see Rebuild).
	RebuildProgress func(done, total int64)
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Name == "" {
		c.Name = Name
	}
	if len(c.Topics) == 0 {
		c.Topics = []string{messaging.TopicFor(events.ContextCatalog), messaging.TopicFor(events.ContextOrdering),
			messaging.TopicFor(events.ContextPayments)}
	}
	if c.KeyRoot == "" {
		c.KeyRoot = "troupe:rm:" + c.Name + ":"
	}
	if c.ConsistencyTimeout == 0 {
		c.ConsistencyTimeout = 5 * time.Second
	}
	if c.Sarama == nil {
		c.Sarama = messaging.NewSaramaConfig(c.Name)
	}
	if c.RebuildBatch == 0 {
		c.RebuildBatch = 32768
	}
}

// Validate reports a configuration that cannot work.
func (c *Config) Validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("projections: no Kafka brokers")
	}
	if c.Redis == nil && c.RedisURL == "" {
		return errors.New("projections: no Redis (Redis or RedisURL)")
	}
	if c.RebuildBatch < 1 {
		return fmt.Errorf("projections: RebuildBatch %d: must be at least 1", c.RebuildBatch)
	}
	return nil
}

// Service is the projections read model with its feed and query API.
// Its methods are safe for concurrent use; Run is called once.
type Service struct {
	cfg      Config
	rdb      redis.UniversalClient
	ownRedis bool
	model    *model.Model
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
	s := &Service{cfg: cfg, rdb: cfg.Redis, model: model.New(cfg.KeyRoot),
		ends: readmodel.NewEndOffsets(cfg.Brokers, cfg.Sarama, cfg.Name, cfg.Topics)}
	if s.rdb == nil {
		opts, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("projections: redis url: %w", err)
		}
		s.rdb, s.ownRedis = redis.NewClient(opts), true
	}
	sub, err := messaging.NewSubscriber(cfg.Name, messaging.SubscriberConfig{
		Brokers: cfg.Brokers, Sarama: cfg.Sarama, Topics: cfg.Topics, Logger: cfg.Logger,
		ResetRefusal: ResetRefusal,
	})
	if err != nil {
		return nil, err
	}
	s.sub = sub
	registerAll(s)
	return s, nil
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

// Model returns the read model (for tools and tests).
func (s *Service) Model() *model.Model { return s.model }

// Subscribers returns the Kafka subscriber feeding the live read model (for
// the admin API: state, dead letters, redrive).
func (s *Service) Subscribers() []*messaging.Subscriber { return []*messaging.Subscriber{s.sub} }

// Redis returns the read store client.
func (s *Service) Redis() redis.UniversalClient { return s.rdb }

// Routes registers the query API on e.
func (s *Service) Routes(e *echo.Echo) {
	h := &ports.HTTP{Model: s.model, Redis: s.rdb, Auth: s.cfg.Auth, ConsistencyTimeout: s.cfg.ConsistencyTimeout}
	h.Register(e)
}

func registerAll(s *Service) {
	handle[events.ProductListed](s)
	handle[events.ProductRepriced](s)
	handle[events.StockReceived](s)
	handle[events.StockReserved](s)
	handle[events.StockReservationFailed](s)
	handle[events.StockReleased](s)
	handle[events.StockCommitted](s)
	handle[events.OrderPlaced](s)
	handle[events.OrderConfirmed](s)
	handle[events.OrderCancelled](s)
	handle[events.FundsDeposited](s)
	handle[events.WalletDebited](s)
	handle[events.WalletCredited](s)
	handle[events.PaymentCaptured](s)
	handle[events.PaymentFailed](s)
	handle[events.PaymentRefunded](s)
}

func handle[E events.Event](s *Service) {
	messaging.Handle(s.sub, func(ctx context.Context, e E, m messaging.Meta) error {
		return s.applyLive(ctx, e, m)
	})
}

// applyLive applies one delivered event to the live generation. With no
// live generation (Redis was emptied under us) it waits for a rebuild
// instead of failing: failing would dead-letter the event, and the rebuild
// will hold it anyway.
func (s *Service) applyLive(ctx context.Context, e events.Event, m messaging.Meta) error {
	src := model.Source{Stream: m.Stream, Revision: m.Revision, OccurredAt: m.OccurredAt,
		Topic: m.Topic, Partition: m.Partition, Offset: m.Offset}
	if m.Redriven {
		// A redriven event comes from the dead-letter topic: its offset is
		// no position in the source topics (and a stored one would stall
		// every rebuild's switch, which waits to reach all of them).
		src.Topic = ""
	}
	ev, err := model.Encode(e, src)
	if err != nil {
		return err
	}
	for {
		_, err := s.model.Applier().Apply(ctx, s.rdb, "", ev)
		if !errors.Is(err, readmodel.ErrNoModel) {
			return err
		}
		s.cfg.Logger.Warn("projections: no live read model; waiting for a rebuild", "stream", m.Stream)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Run feeds the read model until ctx ends. A model with no live generation
// (a fresh or emptied Redis) is first rebuilt from the oldest offsets; then
// the consumer group is positioned at the model's stored offsets, so what
// Redis holds and where consumption resumes always agree. It returns nil
// after a clean stop.
func (s *Service) Run(ctx context.Context) error {
	if err := messaging.EnsureTopics(s.cfg.Brokers, s.cfg.Sarama, s.cfg.Topics...); err != nil {
		return fmt.Errorf("projections: %w", err)
	}
	ns := s.model.Namespace()
	gen, err := ns.Live(ctx, s.rdb)
	if errors.Is(err, readmodel.ErrNoModel) {
		gen, err = s.buildOnce(ctx)
	}
	if err != nil {
		return err
	}
	offsets, err := ns.Offsets(ctx, s.rdb, gen)
	if err != nil {
		return err
	}
	if err := s.seek(ctx, offsets); err != nil {
		return err
	}
	s.running.Store(true)
	defer s.running.Store(false)
	return s.sub.Run(ctx)
}

// buildOnce rebuilds a missing model under the namespace's lock, so that
// instances starting together on an empty Redis build it once: those that
// waited find it built.
func (s *Service) buildOnce(ctx context.Context) (string, error) {
	ns := s.model.Namespace()
	unlock, err := ns.Lock(ctx, s.rdb, 30*time.Second)
	if err != nil {
		return "", err
	}
	defer unlock()
	gen, err := ns.Live(ctx, s.rdb)
	if !errors.Is(err, readmodel.ErrNoModel) {
		return gen, err
	}
	s.cfg.Logger.Info("projections: no read model in Redis; rebuilding from the oldest offsets")
	if err := s.Rebuild(ctx, s.cfg.RebuildProgress); err != nil {
		return "", err
	}
	return ns.Live(ctx, s.rdb)
}

// seek positions the group at the model's stored offsets, or joins it as
// it is when another instance already feeds the model (see
// readmodel.PositionGroup).
func (s *Service) seek(ctx context.Context, offsets map[string]int64) error {
	return readmodel.PositionGroup(ctx, s.cfg.Brokers, s.cfg.Sarama, s.cfg.Name, s.cfg.Topics, offsets, s.cfg.Logger)
}

// Ready reports whether the service is feeding a built read model.
func (s *Service) Ready(ctx context.Context) error {
	if !s.running.Load() {
		return errors.New("projections: not consuming")
	}
	if _, err := s.model.Namespace().Live(ctx, s.rdb); err != nil {
		return err
	}
	return nil
}

// Lag is how far the live read model is behind Kafka.
type Lag = readmodel.Lag

// Lag measures the live read model's lag: the records past its stored
// offsets (over one Kafka client kept for the service's life) and the age
// of its newest applied event. It costs two Redis reads and one
// ListOffsets round trip per broker and direction.
func (s *Service) Lag(ctx context.Context) (Lag, error) {
	ns := s.model.Namespace()
	gen, err := ns.Live(ctx, s.rdb)
	if err != nil {
		return Lag{}, err
	}
	offsets, err := ns.Offsets(ctx, s.rdb, gen)
	if err != nil {
		return Lag{}, err
	}
	var l Lag
	if l.Behind, err = s.ends.Behind(offsets); err != nil {
		return Lag{}, fmt.Errorf("projections: %w", err)
	}
	newest, err := s.rdb.HGet(ctx, ns.MetaKey(gen), "newest").Int64()
	if err == nil && newest > 0 {
		l.NewestApplied = time.UnixMilli(newest).UTC()
		l.Age = time.Since(l.NewestApplied)
	}
	return l, nil
}

// GroupLag is the consumer group's lag in records, summed over its
// partitions (for metrics; the read model's own lag is Lag).
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

// DeadLetters lists the events the live feed gave up on.
func (s *Service) DeadLetters(ctx context.Context) ([]messaging.DeadLetter, error) {
	return s.sub.DeadLetters(ctx)
}
