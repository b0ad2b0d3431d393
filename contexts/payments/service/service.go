// Package service wires payments for `troupe up` and `troupe serve
// payments`: its repositories, card gateway client, HTTP endpoints, relay,
// subscriber and the recovery of unfinished payments.
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

	"github.com/troupe-dev/troupe/contexts/payments/adapters"
	"github.com/troupe-dev/troupe/contexts/payments/app"
	"github.com/troupe-dev/troupe/contexts/payments/ports"
	"github.com/troupe-dev/troupe/shared/events"
	"github.com/troupe-dev/troupe/shared/platform/httpapi"
	"github.com/troupe-dev/troupe/shared/platform/lease"
	"github.com/troupe-dev/troupe/shared/platform/messaging"
	"github.com/troupe-dev/troupe/shared/platform/relay"
)

// Config configures payments. EventStore, Brokers, Auth and PSPURL are
// required; the rest have defaults.
type Config struct {
	// EventStore is the event store client; the service does not close it.
	EventStore *esdb.Client
	// Brokers is the Kafka bootstrap list.
	Brokers []string
	// Auth verifies bearer tokens.
	Auth *httpapi.Auth
	// Currency is the deployment's one currency. Default "EUR".
	Currency string
	// Logger default slog.Default().
	Logger *slog.Logger
	// LeaseHolder identifies this process to the lease "payments" under
	// which the relay and the recovery run, in one instance at a time;
	// default unique per Service (see lease.Config.Holder).
	LeaseHolder string
	// LeaseTTL is that lease's TTL; default lease.DefaultTTL.
	LeaseTTL time.Duration

	// PSPURL is the card gateway's base URL (TROUPE_PSP_URL). `troupe up`
	// starts the embedded simulator (embedded/psp) and passes its URL.
	PSPURL string
	// PSPTimeout bounds each gateway call. Default 2 s.
	PSPTimeout time.Duration
	// PSPMaxAttempts bounds the calls of one charge or refund. Default 3.
	PSPMaxAttempts uint
	// BreakerFailures consecutive failed gateway calls open the circuit
	// breaker. Default 5.
	BreakerFailures uint32
	// BreakerOpenTimeout is how long the breaker stays open before a trial
	// call. Default 5 s.
	BreakerOpenTimeout time.Duration
	// SubscriberRetryInitial and SubscriberRetryMax bound the subscriber's
	// backoff between handler attempts (messaging defaults when zero).
	SubscriberRetryInitial, SubscriberRetryMax time.Duration
	// RecoveryDelay is how old a payment event must be before the recovery
	// subscription looks at it; default DefaultRecoveryDelay.
	RecoveryDelay time.Duration
	// RecoveryRetryInitial and RecoveryRetryMax bound the recovery's
	// backoff between tries to settle a payment while the gateway is down
	// (ports.RecoveryConfig defaults when zero).
	RecoveryRetryInitial, RecoveryRetryMax time.Duration
}

// DefaultRecoveryDelay: see ports.RecoveryConfig.Delay.
const DefaultRecoveryDelay = 2 * time.Second

func (c *Config) setDefaults() {
	if c.Currency == "" {
		c.Currency = "EUR"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.PSPTimeout <= 0 {
		c.PSPTimeout = adapters.DefaultGatewayTimeout
	}
	if c.PSPMaxAttempts == 0 {
		c.PSPMaxAttempts = adapters.DefaultGatewayMaxAttempts
	}
	if c.BreakerFailures == 0 {
		c.BreakerFailures = adapters.DefaultBreakerFailures
	}
	if c.BreakerOpenTimeout <= 0 {
		c.BreakerOpenTimeout = adapters.DefaultBreakerOpenTimeout
	}
	if c.RecoveryDelay <= 0 {
		c.RecoveryDelay = DefaultRecoveryDelay
	}
}

// Validate reports the first missing required setting.
func (c *Config) Validate() error {
	switch {
	case c.EventStore == nil:
		return errors.New("payments: Config.EventStore is required")
	case len(c.Brokers) == 0:
		return errors.New("payments: Config.Brokers is required")
	case c.Auth == nil:
		return errors.New("payments: Config.Auth is required")
	case c.PSPURL == "":
		return errors.New("payments: Config.PSPURL is required (TROUPE_PSP_URL, or the embedded simulator under troupe up)")
	case len(c.Currency) != 3:
		return fmt.Errorf("payments: Config.Currency %q must be a 3-letter code", c.Currency)
	}
	return nil
}

// Service is the payments context, wired. Routes may be called before or
// while Run runs; Run is called once.
type Service struct {
	cfg      Config
	app      *app.Application
	gateway  *adapters.CardGateway
	http     *ports.HTTPServer
	relay    *relay.Relay
	sub      *messaging.Subscriber
	recovery *ports.Recovery
	lease    *lease.Lease
	running  atomic.Bool
}

// New wires the service, or reports the config's first problem.
func New(cfg Config) (*Service, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	evs := adapters.Events()
	wallets, err := adapters.NewWalletRepository(cfg.EventStore, evs, cfg.Logger)
	if err != nil {
		return nil, err
	}
	payments, err := adapters.NewPaymentRepository(cfg.EventStore, evs, cfg.Logger)
	if err != nil {
		return nil, err
	}
	gateway, err := adapters.NewCardGateway(adapters.CardGatewayConfig{
		URL: cfg.PSPURL, Timeout: cfg.PSPTimeout, MaxAttempts: cfg.PSPMaxAttempts,
		BreakerFailures: cfg.BreakerFailures, BreakerOpenTimeout: cfg.BreakerOpenTimeout, Logger: cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("payments: %w", err)
	}
	application := app.New(wallets, payments, gateway, cfg.Currency)
	rl, err := relay.New(relay.Config{Context: events.ContextPayments, EventStore: cfg.EventStore, Brokers: cfg.Brokers,
		Mapper: adapters.NewMapper(evs), Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("payments: relay: %w", err)
	}
	sub, err := messaging.NewSubscriber(ports.SubscriberName, messaging.SubscriberConfig{Brokers: cfg.Brokers,
		RetryInitial: cfg.SubscriberRetryInitial, RetryMax: cfg.SubscriberRetryMax, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("payments: subscriber: %w", err)
	}
	ports.RegisterHandlers(sub, application, cfg.Logger)
	rec, err := ports.NewRecovery(ports.RecoveryConfig{EventStore: cfg.EventStore, App: application,
		Delay: cfg.RecoveryDelay, RetryInitial: cfg.RecoveryRetryInitial, RetryMax: cfg.RecoveryRetryMax, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("payments: recovery: %w", err)
	}
	ls, err := lease.New(lease.Config{EventStore: cfg.EventStore, Name: LeaseName, Holder: cfg.LeaseHolder, TTL: cfg.LeaseTTL, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("payments: %w", err)
	}
	return &Service{cfg: cfg, app: application, gateway: gateway,
		http: ports.NewHTTPServer(application, cfg.Auth), relay: rl, sub: sub, recovery: rec, lease: ls}, nil
}

// Subscribers returns the context's Kafka subscriber (for the admin API).
// A reset of it re-drives history into the context's policies, which record
// the events they acted on and ignore a repeat.
func (s *Service) Subscribers() []*messaging.Subscriber { return []*messaging.Subscriber{s.sub} }

// Routes registers POST /api/customers/{customerId}/wallet/deposits.
func (s *Service) Routes(e *echo.Echo) { s.http.Register(e) }

// LeaseName is the lease the payments' once-per-context work runs under.
const LeaseName = "payments"

// Run runs the subscriber (ordering.events, catalog.events) and, while this
// instance holds the lease LeaseName, the relay (payments.events) and the
// recovery of unfinished payments, until ctx ends, then returns nil; if one
// stops with an error, the others are stopped and that error returned.
// Several instances may run at once: the subscriber's group shares the
// partitions, and the relay and recovery run in one instance at a time.
func (s *Service) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	for name, run := range map[string]func(context.Context) error{
		"subscriber": s.sub.Run, "lease": func(ctx context.Context) error { return s.lease.Run(ctx, s.runLeased) },
	} {
		g.Go(func() error {
			err := run(gctx)
			if ctx.Err() != nil {
				return nil // a clean stop
			}
			if err == nil && gctx.Err() == nil {
				err = fmt.Errorf("stopped early")
			}
			if err == nil || errors.Is(err, context.Canceled) {
				return nil // stopped because another part failed
			}
			return fmt.Errorf("payments: %s: %w", name, err)
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
			err := run(gctx)
			if ctx.Err() != nil || errors.Is(err, context.Canceled) {
				return nil
			}
			if err == nil && gctx.Err() == nil {
				err = fmt.Errorf("stopped early")
			}
			if err == nil {
				return nil
			}
			return fmt.Errorf("payments: %s: %w", name, err)
		})
	}
	return g.Wait()
}

// Ready returns nil while Run runs, once the lease has been looked at,
// and, in the instance holding it, once the recovery has examined every
// payment event recorded before it started.
func (s *Service) Ready() error {
	if !s.running.Load() {
		return errors.New("payments: not running")
	}
	if !s.lease.Contended() {
		return errors.New("payments: looking for the relay's lease")
	}
	if !s.lease.Held() {
		return nil
	}
	select {
	case <-s.recovery.CaughtUp():
		return nil
	default:
		return errors.New("payments: resuming unfinished payments")
	}
}

// PendingSettlements reports how many payments the recovery is retrying
// (the card gateway is down), for health pages and tests.
func (s *Service) PendingSettlements() int { return s.recovery.Pending() }

// BreakerState reports the card gateway breaker's state ("closed", "open",
// "half-open"), for health pages and tests.
func (s *Service) BreakerState() string { return s.gateway.BreakerState() }
