// Package service wires the ordering context for `troupe up` and
// `troupe serve ordering`: its HTTP commands, its relay to ordering.events,
// its subscriber on catalog.events and payments.events, and its order
// deadlines.
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

	"github.com/troupe-dev/troupe/contexts/ordering/adapters"
	"github.com/troupe-dev/troupe/contexts/ordering/app"
	"github.com/troupe-dev/troupe/contexts/ordering/ports"
	"github.com/troupe-dev/troupe/shared/events"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
	"github.com/troupe-dev/troupe/shared/platform/httpapi"
	"github.com/troupe-dev/troupe/shared/platform/lease"
	"github.com/troupe-dev/troupe/shared/platform/messaging"
	"github.com/troupe-dev/troupe/shared/platform/relay"
)

// Config configures the ordering service. EventStore, Brokers and Auth are
// required; the rest have defaults.
type Config struct {
	// EventStore is the event-store client; the service does not close it.
	EventStore *esdb.Client
	// Brokers is the Kafka bootstrap list.
	Brokers []string
	// Auth verifies the bearer tokens of the HTTP commands.
	Auth *httpapi.Auth
	// Currency is the deployment's one currency; default "EUR".
	Currency string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// LeaseHolder identifies this process to the lease "ordering" under
	// which the relay and the deadline timer run, in one instance at a
	// time; default unique per Service (see lease.Config.Holder).
	LeaseHolder string
	// LeaseTTL is that lease's TTL; default lease.DefaultTTL.
	LeaseTTL time.Duration
	// OrderTimeout (TROUPE_ORDER_TIMEOUT) is how long an order may stay
	// unconfirmed before it is cancelled with reason timeout; default 60s.
	OrderTimeout time.Duration
	// Now is the clock of placements and deadlines; default time.Now
	// (tests move it).
	Now func() time.Time
}

func (c *Config) setDefaults() {
	if c.Currency == "" {
		c.Currency = "EUR"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.OrderTimeout == 0 {
		c.OrderTimeout = 60 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports the first missing or invalid setting.
func (c *Config) Validate() error {
	switch {
	case c.EventStore == nil:
		return errors.New("ordering: Config.EventStore is required")
	case len(c.Brokers) == 0:
		return errors.New("ordering: Config.Brokers is required")
	case c.Auth == nil:
		return errors.New("ordering: Config.Auth is required")
	case c.OrderTimeout < 0:
		return fmt.Errorf("ordering: Config.OrderTimeout %v is negative", c.OrderTimeout)
	}
	return nil
}

// Service is the ordering context, wired. Build it with New, register its
// routes, and Run it once.
type Service struct {
	cfg        Config
	app        *app.App
	http       *ports.HTTPServer
	relay      *relay.Relay
	subscriber *messaging.Subscriber
	deadlines  *app.Deadlines
	feed       *eventstore.Subscription
	lease      *lease.Lease

	running atomic.Bool
}

// New wires the service; nothing connects until Run.
func New(cfg Config) (*Service, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	registry := adapters.NewEventRegistry()
	orders, err := adapters.NewOrderRepository(cfg.EventStore, registry)
	if err != nil {
		return nil, err
	}
	prices, err := adapters.NewPriceBookRepository(cfg.EventStore, registry)
	if err != nil {
		return nil, err
	}
	a, err := app.New(app.Config{
		Orders: orders, Prices: prices, Currency: cfg.Currency, OrderTimeout: cfg.OrderTimeout,
		Now: cfg.Now, Logger: cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	rl, err := relay.New(relay.Config{
		Context: events.ContextOrdering, EventStore: cfg.EventStore, Brokers: cfg.Brokers,
		Mapper: adapters.Mapper(registry), Logger: cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	sub, err := ports.NewSubscriber(a, messaging.SubscriberConfig{Brokers: cfg.Brokers, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	deadlines := app.NewDeadlines(a, 0)
	feed, err := ports.NewDeadlineFeed(cfg.EventStore, registry, deadlines, eventstore.SubscriptionConfig{Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	ls, err := lease.New(lease.Config{EventStore: cfg.EventStore, Name: LeaseName, Holder: cfg.LeaseHolder, TTL: cfg.LeaseTTL, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("ordering: %w", err)
	}
	return &Service{
		cfg: cfg, app: a, http: ports.NewHTTPServer(a, cfg.Auth), relay: rl,
		subscriber: sub, deadlines: deadlines, feed: feed, lease: ls,
	}, nil
}

// Subscribers returns the context's Kafka subscriber (for the admin API).
// A reset of it re-drives history into the context's policies, which record
// the events they acted on and ignore a repeat.
func (s *Service) Subscribers() []*messaging.Subscriber { return []*messaging.Subscriber{s.subscriber} }

// Routes registers POST /api/orders and POST /api/orders/:orderId/cancel.
func (s *Service) Routes(e *echo.Echo) { s.http.Register(e) }

// LeaseName is the lease the ordering's once-per-context work runs under.
const LeaseName = "ordering"

// Run runs the subscriber and the deadline feed, and, while this instance
// holds the lease LeaseName, the relay and the deadline timer, until ctx
// ends (then it returns nil once they stopped) or one of them fails (then
// it stops the others and returns that error). Several instances may run
// at once: the subscriber's group shares the partitions, every instance
// keeps the deadlines, and one at a time publishes and expires orders.
func (s *Service) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("ordering: Run called while already running")
	}
	defer s.running.Store(false)
	g, gctx := errgroup.WithContext(ctx)
	for name, run := range map[string]func(context.Context) error{
		"subscriber": s.subscriber.Run, "deadline feed": s.feed.Run,
		"lease": func(ctx context.Context) error { return s.lease.Run(ctx, s.runLeased) },
	} {
		g.Go(func() error {
			if err := run(gctx); err != nil && ctx.Err() == nil {
				return fmt.Errorf("ordering %s: %w", name, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// runLeased runs the relay and the deadline timer until ctx ends or one
// fails.
func (s *Service) runLeased(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	for name, run := range map[string]func(context.Context) error{"relay": s.relay.Run, "deadlines": s.deadlines.Run} {
		g.Go(func() error {
			if err := run(gctx); err != nil && ctx.Err() == nil {
				return fmt.Errorf("ordering %s: %w", name, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// Ready returns nil once Run is running and the pending deadlines have been
// rebuilt from the event store.
func (s *Service) Ready() error {
	if !s.running.Load() {
		return errors.New("ordering: not running")
	}
	select {
	case <-s.feed.CaughtUp():
		return nil
	default:
		return errors.New("ordering: rebuilding order deadlines")
	}
}
