// Package service wires the catalog context for `troupe up` and `troupe
// serve catalog`: repositories over the event store, the application, its
// HTTP routes, its Kafka subscriber, the recovery of interrupted
// reservations and the relay that publishes its integration events.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/labstack/echo/v4"
	"golang.org/x/sync/errgroup"

	"github.com/troupe-dev/troupe/contexts/catalog/adapters"
	"github.com/troupe-dev/troupe/contexts/catalog/app"
	"github.com/troupe-dev/troupe/contexts/catalog/ports"
	"github.com/troupe-dev/troupe/shared/events"
	"github.com/troupe-dev/troupe/shared/platform/httpapi"
	"github.com/troupe-dev/troupe/shared/platform/lease"
	"github.com/troupe-dev/troupe/shared/platform/messaging"
	"github.com/troupe-dev/troupe/shared/platform/relay"
)

// Defaults of the catalog-specific Config fields.
const (
	// DefaultMaxConflictRetries: a hot SKU takes many concurrent
	// reservations, each a reload and retry for the others.
	DefaultMaxConflictRetries = 50
	// DefaultRecoveryDelay: see ports.RecoveryConfig.Delay.
	DefaultRecoveryDelay = 2 * time.Second
)

// Config configures the catalog service.
type Config struct {
	// EventStore is the event-store client; required. The service does not
	// close it.
	EventStore *esdb.Client
	// Brokers is the Kafka bootstrap list; required.
	Brokers []string
	// Auth verifies bearer tokens; required.
	Auth *httpapi.Auth
	// Currency is the deployment's one currency; default "EUR".
	Currency string
	// Logger; default slog.Default().
	Logger *slog.Logger

	// MaxConflictRetries bounds the reloads of one product or reservation
	// after concurrent writes; default DefaultMaxConflictRetries.
	MaxConflictRetries int
	// RecoveryDelay is how old a reservation intent must be before the
	// recovery subscription looks at it; default DefaultRecoveryDelay.
	RecoveryDelay time.Duration
	// LeaseHolder identifies this process to the lease "catalog" under
	// which the relay and the recovery run, in one instance at a time;
	// default unique per Service (see lease.Config.Holder).
	LeaseHolder string
	// LeaseTTL is that lease's TTL; default lease.DefaultTTL.
	LeaseTTL time.Duration
	// Subscriber overrides the Kafka subscriber's settings (retries, Sarama
	// config); its Brokers and Logger are set from this Config.
	Subscriber messaging.SubscriberConfig
}

func (c *Config) setDefaults() {
	if c.Currency == "" {
		c.Currency = "EUR"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MaxConflictRetries == 0 {
		c.MaxConflictRetries = DefaultMaxConflictRetries
	}
	if c.RecoveryDelay <= 0 {
		c.RecoveryDelay = DefaultRecoveryDelay
	}
}

// Validate reports the first missing or invalid setting.
func (c *Config) Validate() error {
	switch {
	case c.EventStore == nil:
		return errors.New("catalog: Config.EventStore is required")
	case len(c.Brokers) == 0:
		return errors.New("catalog: Config.Brokers is required")
	case c.Auth == nil:
		return errors.New("catalog: Config.Auth is required")
	case len(c.Currency) != 3:
		return fmt.Errorf("catalog: Config.Currency %q: want a three-letter code", c.Currency)
	}
	return nil
}

// Service is the catalog context, wired. Call Run once; Routes and Ready
// may be called from any goroutine.
type Service struct {
	cfg      Config
	app      *app.Application
	http     *ports.HTTPServer
	sub      *messaging.Subscriber
	relay    *relay.Relay
	recovery *ports.Recovery
	lease    *lease.Lease

	running atomic.Bool
}

// New wires the service; nothing connects until Run.
func New(cfg Config) (*Service, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	evs := adapters.Events()
	products, err := adapters.NewProductRepository(cfg.EventStore, evs, cfg.MaxConflictRetries)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	reservations, err := adapters.NewReservationRepository(cfg.EventStore, evs, cfg.MaxConflictRetries)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	a, err := app.New(app.Config{Products: products, Reservations: reservations, Currency: cfg.Currency, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	subCfg := cfg.Subscriber
	subCfg.Brokers, subCfg.Logger = cfg.Brokers, cfg.Logger
	sub, err := messaging.NewSubscriber(ports.SubscriberName, subCfg)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	ports.RegisterHandlers(sub, a, cfg.Logger)
	rl, err := relay.New(relay.Config{
		Context:    events.ContextCatalog,
		EventStore: cfg.EventStore,
		Brokers:    cfg.Brokers,
		Mapper:     adapters.NewMapper(evs),
		Logger:     cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	rec, err := ports.NewRecovery(ports.RecoveryConfig{EventStore: cfg.EventStore, App: a, Delay: cfg.RecoveryDelay, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	ls, err := lease.New(lease.Config{EventStore: cfg.EventStore, Name: LeaseName, Holder: cfg.LeaseHolder, TTL: cfg.LeaseTTL, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	return &Service{cfg: cfg, app: a, http: ports.NewHTTPServer(a, cfg.Auth), sub: sub, relay: rl, recovery: rec, lease: ls}, nil
}

// Subscribers returns the context's Kafka subscriber (for the admin API).
// A reset of it re-drives history into the context's policies, which record
// the events they acted on and ignore a repeat.
func (s *Service) Subscribers() []*messaging.Subscriber { return []*messaging.Subscriber{s.sub} }

// Routes registers the catalog's admin command endpoints on e.
func (s *Service) Routes(e *echo.Echo) { s.http.Register(e) }

// LeaseName is the lease the catalog's once-per-context work runs under.
const LeaseName = "catalog"

// Run runs the subscriber of ordering's events, and, while this instance
// holds the lease LeaseName, the relay and the recovery of interrupted
// reservations, until ctx ends (then it returns nil) or one of them fails
// (then it stops the others and returns that error). Several instances may
// run at once: the subscriber's group shares the partitions, and the relay
// and recovery run in one instance at a time.
func (s *Service) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	for name, run := range map[string]func(context.Context) error{
		"subscriber": s.sub.Run, "lease": func(ctx context.Context) error { return s.lease.Run(ctx, s.runLeased) },
	} {
		g.Go(func() error {
			if err := run(gctx); err != nil && ctx.Err() == nil {
				return fmt.Errorf("catalog %s: %w", name, err)
			}
			return nil
		})
	}
	s.running.Store(true)
	err := g.Wait()
	s.running.Store(false)
	return err
}

// runLeased runs the relay and the recovery until ctx ends or one fails.
func (s *Service) runLeased(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	for name, run := range map[string]func(context.Context) error{"relay": s.relay.Run, "recovery": s.recovery.Run} {
		g.Go(func() error {
			if err := run(gctx); err != nil && ctx.Err() == nil {
				return fmt.Errorf("catalog %s: %w", name, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// Ready returns nil once Run is running, the lease has been looked at,
// and, in the instance holding it, the recovery has examined every
// reservation intent recorded before it started.
func (s *Service) Ready() error {
	if !s.running.Load() {
		return errors.New("catalog: not running")
	}
	if !s.lease.Contended() {
		return errors.New("catalog: looking for the relay's lease")
	}
	if !s.lease.Held() {
		return nil
	}
	select {
	case <-s.recovery.CaughtUp():
		return nil
	default:
		return errors.New("catalog: resuming interrupted reservations")
	}
}
