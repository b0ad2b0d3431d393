package stack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/labstack/echo/v4"

	catalog "github.com/troupe-dev/troupe/contexts/catalog/service"
	ordering "github.com/troupe-dev/troupe/contexts/ordering/service"
	payments "github.com/troupe-dev/troupe/contexts/payments/service"
	projections "github.com/troupe-dev/troupe/projections/service"
	"github.com/troupe-dev/troupe/shared/platform/httpapi"
	"github.com/troupe-dev/troupe/shared/platform/messaging"
	loyalty "github.com/troupe-dev/troupe/subscribers/loyalty/service"
	webhook "github.com/troupe-dev/troupe/subscribers/webhook/service"
)

// Components lists every component Build knows, in the order the stack
// starts them.
var Components = []string{Catalog, Ordering, Payments, Projections, Loyalty, Webhook}

// Deps are the connections and settings Build wires one component from.
// Which fields a component needs is listed on each; Build reports a
// missing one.
type Deps struct {
	// EventStore serves catalog, ordering and payments. The component does
	// not close it.
	EventStore *esdb.Client
	// Brokers is the Kafka bootstrap list (every component).
	Brokers []string
	// RedisURL holds the read models (projections, loyalty).
	RedisURL string
	// PSPURL is the card gateway (payments).
	PSPURL string
	// Auth verifies bearer tokens (every component with routes).
	Auth *httpapi.Auth
	// Currency (catalog, ordering, payments); default "EUR".
	Currency string
	// OrderTimeout (ordering); default 60 s.
	OrderTimeout time.Duration
	// Webhooks (webhook).
	Webhooks []webhook.Webhook
	// LeaseHolder identifies this process to the leases of the once-per-
	// context work (relays, recoveries, deadlines); default unique per
	// component. See lease.Config.Holder.
	LeaseHolder string
	// Logger; default slog.Default().
	Logger *slog.Logger
	// RebuildProgress, when set, hears how far a read model's rebuild from
	// history has come (projections, when its Redis is empty at start).
	RebuildProgress func(model string, done, total int64)

	// Tuning of the contexts, for tests: zero keeps each context's default.
	CatalogRecoveryDelay time.Duration
	PSPTimeout           time.Duration
	BreakerOpenTimeout   time.Duration
	PaymentsRetryInitial time.Duration
	PaymentsRetryMax     time.Duration
}

// Component is one built part of the platform. Run it once; Routes, Ready
// and Service may be called from any goroutine; Close releases what Build
// opened (a Redis client) once Run has returned.
type Component interface {
	// Run runs the component's subscribers, relays and timers until ctx
	// ends (then nil) or one of them fails.
	Run(ctx context.Context) error
	// Routes registers the component's HTTP routes.
	Routes(e *echo.Echo)
	// Ready reports nil once the component has caught up (see each
	// service's Ready).
	Ready(ctx context.Context) error
	// Close releases the component's own connections.
	Close() error
	// Service is the wired service (*catalog.Service, ...).
	Service() any
	// Subscribers are the component's Kafka subscribers, for the admin API.
	Subscribers() []*messaging.Subscriber
}

// component adapts each service to Component.
type component struct {
	svc    any
	run    func(context.Context) error
	routes func(*echo.Echo)
	ready  func(context.Context) error
	close  func() error
}

func (c *component) Run(ctx context.Context) error   { return c.run(ctx) }
func (c *component) Routes(e *echo.Echo)             { c.routes(e) }
func (c *component) Ready(ctx context.Context) error { return c.ready(ctx) }
func (c *component) Service() any                    { return c.svc }
func (c *component) Subscribers() []*messaging.Subscriber {
	if set, ok := c.svc.(interface {
		Subscribers() []*messaging.Subscriber
	}); ok {
		return set.Subscribers()
	}
	return nil
}
func (c *component) Close() error {
	if c.close == nil {
		return nil
	}
	return c.close()
}

func noRoutes(*echo.Echo) {}

func ctxless(f func() error) func(context.Context) error {
	return func(context.Context) error { return f() }
}

// Build wires the component called name ("catalog", ..., "webhook") from
// d. Nothing connects until Run.
func Build(name string, d Deps) (Component, error) {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Currency == "" {
		d.Currency = "EUR"
	}
	if d.OrderTimeout == 0 {
		d.OrderTimeout = 60 * time.Second
	}
	switch name {
	case Catalog:
		s, err := catalog.New(catalog.Config{EventStore: d.EventStore, Brokers: d.Brokers, Auth: d.Auth, Currency: d.Currency,
			Logger: d.Logger, RecoveryDelay: d.CatalogRecoveryDelay, LeaseHolder: d.LeaseHolder})
		if err != nil {
			return nil, err
		}
		return &component{svc: s, run: s.Run, routes: s.Routes, ready: ctxless(s.Ready)}, nil
	case Ordering:
		s, err := ordering.New(ordering.Config{EventStore: d.EventStore, Brokers: d.Brokers, Auth: d.Auth, Currency: d.Currency,
			Logger: d.Logger, OrderTimeout: d.OrderTimeout, LeaseHolder: d.LeaseHolder})
		if err != nil {
			return nil, err
		}
		return &component{svc: s, run: s.Run, routes: s.Routes, ready: ctxless(s.Ready)}, nil
	case Payments:
		s, err := payments.New(payments.Config{EventStore: d.EventStore, Brokers: d.Brokers, Auth: d.Auth, Currency: d.Currency,
			Logger: d.Logger, PSPURL: d.PSPURL, PSPTimeout: d.PSPTimeout, BreakerOpenTimeout: d.BreakerOpenTimeout,
			SubscriberRetryInitial: d.PaymentsRetryInitial, SubscriberRetryMax: d.PaymentsRetryMax, LeaseHolder: d.LeaseHolder})
		if err != nil {
			return nil, err
		}
		return &component{svc: s, run: s.Run, routes: s.Routes, ready: ctxless(s.Ready)}, nil
	case Projections:
		var progress func(done, total int64)
		if d.RebuildProgress != nil {
			progress = func(done, total int64) { d.RebuildProgress(projections.Name, done, total) }
		}
		s, err := projections.New(projections.Config{Brokers: d.Brokers, RedisURL: d.RedisURL, Auth: d.Auth, Logger: d.Logger,
			RebuildProgress: progress})
		if err != nil {
			return nil, err
		}
		return &component{svc: s, run: s.Run, routes: s.Routes, ready: s.Ready, close: s.Close}, nil
	case Loyalty:
		s, err := loyalty.New(loyalty.Config{Brokers: d.Brokers, RedisURL: d.RedisURL, Auth: d.Auth, Logger: d.Logger})
		if err != nil {
			return nil, err
		}
		return &component{svc: s, run: s.Run, routes: s.Routes, ready: ctxless(s.Ready), close: s.Close}, nil
	case Webhook:
		if len(d.Webhooks) == 0 {
			return nil, errors.New("webhook: no webhooks configured")
		}
		s, err := webhook.New(webhook.Config{Brokers: d.Brokers, Webhooks: d.Webhooks, Logger: d.Logger})
		if err != nil {
			return nil, err
		}
		return &component{svc: s, run: s.Run, routes: noRoutes, ready: ctxless(s.Ready)}, nil
	}
	return nil, fmt.Errorf("stack: no component %q", name)
}
