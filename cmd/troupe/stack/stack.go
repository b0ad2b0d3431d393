// Package stack runs the whole Troupe platform in one process: the event
// store, Kafka, Redis and the card gateway (embedded, or given URLs), the
// three contexts, the projections, and one HTTP listener serving every
// route. `troupe up` is a thin command around it; end-to-end tests,
// benchmarks and `troupe load` start it the same way, so what they measure
// is what a user runs.
package stack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/labstack/echo/v4"

	payments "github.com/troupe-dev/troupe/contexts/payments/service"
	embes "github.com/troupe-dev/troupe/embedded/eventstore"
	embkafka "github.com/troupe-dev/troupe/embedded/kafka"
	"github.com/troupe-dev/troupe/embedded/psp"
	embredis "github.com/troupe-dev/troupe/embedded/redis"
	"github.com/troupe-dev/troupe/shared/platform/admin"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
	"github.com/troupe-dev/troupe/shared/platform/httpapi"
	"github.com/troupe-dev/troupe/shared/platform/lease"
	"github.com/troupe-dev/troupe/shared/platform/readmodel"
	webhook "github.com/troupe-dev/troupe/subscribers/webhook/service"
)

// Service names, as Restart and error messages spell them.
const (
	Catalog     = "catalog"
	Ordering    = "ordering"
	Payments    = "payments"
	Projections = "projections"
	Loyalty     = "loyalty"
	Webhook     = "webhook"
)

// CloseTimeout bounds Close: the design's "Ctrl-C stops cleanly within 10 s".
const CloseTimeout = 10 * time.Second

// SecretFile is the name of the generated JWT secret in the data dir.
const SecretFile = "jwt.secret"

// Config configures Start. Every server is embedded unless its URL is
// given; zero fields take the defaults documented on each.
type Config struct {
	// DataDir holds the embedded event store and Kafka data and the
	// generated JWT secret. Required unless EventStoreURL, KafkaBrokers and
	// JWTSecret are all given.
	DataDir string
	// HTTPAddr is the API listener; default "127.0.0.1:0" (a free port;
	// `troupe up` passes 127.0.0.1:8080).
	HTTPAddr string

	// EventStoreURL points at a running event store; empty: embedded,
	// listening on EventStoreAddr (default a free loopback port).
	EventStoreURL, EventStoreAddr string
	// KafkaBrokers points at a running Kafka; empty: embedded (kfake with
	// its data in DataDir), listening on KafkaAddr.
	KafkaBrokers []string
	KafkaAddr    string
	// KafkaNoSync skips the embedded broker's fsync per batch (throwaway
	// test stacks only).
	KafkaNoSync bool
	// RedisURL points at a running Redis for the projections; empty:
	// embedded miniredis on RedisAddr (read models rebuilt at start).
	RedisURL, RedisAddr string
	// PSPURL points at a card gateway; empty: the embedded simulator on
	// PSPAddr.
	PSPURL, PSPAddr string
	// JWTSecret signs and verifies tokens (at least 32 bytes); empty: read
	// from DataDir/jwt.secret, generated there on first start.
	JWTSecret []byte

	// Currency is the deployment's one currency; default "EUR".
	Currency string
	// OrderTimeout cancels an order not confirmed by then; default 60 s.
	OrderTimeout time.Duration
	// WithoutProjections leaves out the projections service, the loyalty
	// subscriber and Redis (tests of the write side that do not query read
	// models).
	WithoutProjections bool
	// Webhooks, when not empty, runs the webhook subscriber forwarding to
	// them (one consumer group each).
	Webhooks []webhook.Webhook
	// LeaseHolder identifies this stack to the leases of the once-per-
	// context work (relays, recoveries, deadlines). Default: derived from
	// the host and the absolute DataDir, so a stack restarted on its data
	// dir after a crash takes its own leases back at once (two stacks never
	// share a data dir: `troupe up` locks it); without DataDir, unique per
	// Start.
	LeaseHolder string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// RebuildProgress, when set, hears how far a read model's rebuild from
	// history has come (at start, when Redis is empty: always with the
	// embedded miniredis). It is called often, from another goroutine.
	RebuildProgress func(model string, done, total int64)

	// Tuning of the contexts, for tests: zero keeps each context's default.
	CatalogRecoveryDelay time.Duration
	PSPTimeout           time.Duration
	BreakerOpenTimeout   time.Duration
	PaymentsRetryInitial time.Duration
	PaymentsRetryMax     time.Duration
}

func (c *Config) setDefaults() {
	if c.HTTPAddr == "" {
		c.HTTPAddr = "127.0.0.1:0"
	}
	if c.Currency == "" {
		c.Currency = "EUR"
	}
	if c.OrderTimeout == 0 {
		c.OrderTimeout = 60 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.LeaseHolder == "" {
		c.LeaseHolder = lease.DefaultHolder()
		if abs, err := filepath.Abs(c.DataDir); c.DataDir != "" && err == nil {
			host, _ := os.Hostname()
			c.LeaseHolder = "stack:" + host + ":" + abs
		}
	}
}

// Validate reports a configuration that cannot work.
func (c *Config) Validate() error {
	if c.DataDir == "" && (c.EventStoreURL == "" || len(c.KafkaBrokers) == 0 || len(c.JWTSecret) == 0) {
		return errors.New("stack: DataDir is required for the embedded event store, Kafka or a generated JWT secret")
	}
	if c.OrderTimeout < 0 {
		return fmt.Errorf("stack: OrderTimeout %v is negative", c.OrderTimeout)
	}
	return nil
}

// AddrError is a server that could not start on its address (most often:
// the port is taken). Component is "http", "eventstore", "kafka", "redis"
// or "psp", so a command can name the flag that changes it.
type AddrError struct {
	Component, Addr string
	Err             error
}

func (e *AddrError) Error() string {
	return fmt.Sprintf("%s on %s: %v", e.Component, e.Addr, e.Err)
}

func (e *AddrError) Unwrap() error { return e.Err }

type running struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// Stack is a running platform. Its methods are safe for concurrent use.
type Stack struct {
	cfg     Config
	auth    *httpapi.Auth
	log     *slog.Logger
	closers []func() error // infrastructure, closed last to first

	leaseHolder string

	esURL   string
	es      *esdb.Client
	brokers []string
	redis   string
	pspURL  string
	psp     *psp.Server

	admin *admin.Registry

	httpLn  net.Listener
	httpSrv *http.Server
	httpErr chan error
	monitor *readmodel.Monitor

	mu       sync.Mutex
	services map[string]Component
	runs     map[string]*running
	failed   chan struct{}
	failOnce sync.Once
	failErr  error
	closed   bool
}

// Start starts the infrastructure, wires the services, serves HTTP and
// runs every service. It returns once all of them are started (use Ready
// to wait until they have caught up). On error, whatever was started is
// stopped again.
func Start(ctx context.Context, cfg Config) (st *Stack, err error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Stack{cfg: cfg, log: cfg.Logger, leaseHolder: cfg.LeaseHolder, services: map[string]Component{}, runs: map[string]*running{},
		failed: make(chan struct{}), httpErr: make(chan error, 1), admin: admin.NewRegistry()}
	defer func() {
		if err != nil {
			s.closeInfra()
		}
	}()
	if cfg.DataDir != "" {
		if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("stack: data dir: %w", err)
		}
	}
	if err := s.startInfra(ctx); err != nil {
		return nil, err
	}
	if err := s.wire(); err != nil {
		return nil, err
	}
	// Listen before running the services: a busy port should fail at once,
	// not after the subscribers joined their groups.
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, &AddrError{Component: "http", Addr: cfg.HTTPAddr, Err: err}
	}
	s.httpLn = ln
	s.monitor = s.newMonitor()
	e := httpapi.New(httpapi.Config{Logger: s.log, Ready: s.CheckReady, ReadModels: s.monitor.Statuses})
	e.GET("/metrics", echo.WrapHandler(s.monitor.Handler()))
	for _, name := range s.names() {
		s.services[name].Routes(e)
	}
	s.admin.Routes(e, s.auth)
	s.httpSrv = &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second}
	go func() { s.httpErr <- s.httpSrv.Serve(ln) }()
	for _, name := range s.names() {
		s.run(name, s.services[name])
	}
	return s, nil
}

func (s *Stack) startInfra(ctx context.Context) error {
	// The embedded servers stop when the context they start with ends; the
	// stack owns their lifetime (Close), not the caller's start deadline.
	ctx = context.WithoutCancel(ctx)
	cfg := s.cfg
	quiet := s.log
	if cfg.EventStoreURL == "" {
		srv, err := embes.Start(ctx, embes.Config{Addr: cfg.EventStoreAddr, DataDir: filepath.Join(cfg.DataDir, "eventstore"), Logger: quiet})
		if err != nil {
			return &AddrError{Component: "eventstore", Addr: orFree(cfg.EventStoreAddr), Err: err}
		}
		s.closers = append(s.closers, srv.Close)
		s.esURL = srv.URL()
	} else {
		s.esURL = cfg.EventStoreURL
	}
	client, err := eventstore.Dial(s.esURL, quiet)
	if err != nil {
		return err
	}
	s.closers = append(s.closers, client.Close)
	s.es = client

	if len(cfg.KafkaBrokers) == 0 {
		srv, err := embkafka.Start(ctx, embkafka.Config{Addr: cfg.KafkaAddr, DataDir: filepath.Join(cfg.DataDir, "kafka"), NoSync: cfg.KafkaNoSync})
		if err != nil {
			return &AddrError{Component: "kafka", Addr: orFree(cfg.KafkaAddr), Err: err}
		}
		s.closers = append(s.closers, srv.Close)
		s.brokers = srv.Brokers()
	} else {
		s.brokers = cfg.KafkaBrokers
	}

	if !cfg.WithoutProjections {
		if cfg.RedisURL == "" {
			srv, err := embredis.Start(ctx, embredis.Config{Addr: cfg.RedisAddr})
			if err != nil {
				return &AddrError{Component: "redis", Addr: orFree(cfg.RedisAddr), Err: err}
			}
			s.closers = append(s.closers, srv.Close)
			s.redis = srv.URL()
		} else {
			s.redis = cfg.RedisURL
		}
	}

	if cfg.PSPURL == "" {
		srv, err := psp.Start(ctx, psp.Config{Addr: cfg.PSPAddr})
		if err != nil {
			return &AddrError{Component: "psp", Addr: orFree(cfg.PSPAddr), Err: err}
		}
		s.closers = append(s.closers, srv.Close)
		s.psp = srv
		s.pspURL = srv.URL()
	} else {
		s.pspURL = cfg.PSPURL
	}

	secret := cfg.JWTSecret
	if len(secret) == 0 {
		if secret, err = loadOrCreateSecret(filepath.Join(cfg.DataDir, SecretFile)); err != nil {
			return err
		}
	}
	s.auth, err = httpapi.NewAuth(secret)
	return err
}

// wire builds every service; building is pure, nothing connects yet.
func (s *Stack) wire() error {
	for _, name := range Components {
		if (name == Projections || name == Loyalty) && s.cfg.WithoutProjections || name == Webhook && len(s.cfg.Webhooks) == 0 {
			continue
		}
		svc, err := s.build(name)
		if err != nil {
			return err
		}
		s.services[name] = svc
		s.register(name, svc)
	}
	return nil
}

// register lists the service's subscribers in the admin registry,
// replacing those of an earlier instance.
func (s *Stack) register(name string, svc Component) {
	s.admin.Add(name, svc.Subscribers()...)
}

func (s *Stack) build(name string) (Component, error) {
	cfg := s.cfg
	c, err := Build(name, Deps{
		EventStore: s.es, Brokers: s.brokers, RedisURL: s.redis, PSPURL: s.pspURL, Auth: s.auth,
		Currency: cfg.Currency, OrderTimeout: cfg.OrderTimeout, Webhooks: cfg.Webhooks,
		LeaseHolder: s.leaseHolder, Logger: s.log, RebuildProgress: cfg.RebuildProgress,
		CatalogRecoveryDelay: cfg.CatalogRecoveryDelay, PSPTimeout: cfg.PSPTimeout,
		BreakerOpenTimeout: cfg.BreakerOpenTimeout, PaymentsRetryInitial: cfg.PaymentsRetryInitial,
		PaymentsRetryMax: cfg.PaymentsRetryMax,
	})
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, c.Close)
	return c, nil
}

// Services lists the services this stack runs, in a stable order.
func (s *Stack) Services() []string { return s.names() }

// names lists the wired services in a stable order.
func (s *Stack) names() []string {
	var out []string
	for _, n := range Components {
		if _, ok := s.services[n]; ok {
			out = append(out, n)
		}
	}
	return out
}

// run starts svc in its own goroutine; an unexpected stop fails the stack.
func (s *Stack) run(name string, svc Component) {
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan struct{})}
	s.mu.Lock()
	s.runs[name] = r
	s.mu.Unlock()
	go func() {
		defer close(r.done)
		err := svc.Run(ctx)
		if ctx.Err() != nil {
			return // stopped on purpose
		}
		if err == nil {
			err = errors.New("stopped unexpectedly")
		}
		r.err = fmt.Errorf("%s: %w", name, err)
		s.fail(r.err)
	}()
}

func (s *Stack) fail(err error) {
	s.failOnce.Do(func() {
		s.log.Error("troupe: a service failed", "err", err)
		s.failErr = err
		close(s.failed)
	})
}

// Failed is closed when a service stopped on its own; Err then says why.
func (s *Stack) Failed() <-chan struct{} { return s.failed }

// Err returns why the stack failed, or nil.
func (s *Stack) Err() error {
	select {
	case <-s.failed:
		return s.failErr
	default:
		return nil
	}
}

// Restart stops one service and runs a freshly built one in its place: a
// crash and restart of that context, with every other part left running.
// Its HTTP routes stay those of the first instance (they hold no state
// beyond the event store, so they keep serving).
func (s *Stack) Restart(ctx context.Context, name string) error {
	if err := s.Stop(ctx, name); err != nil {
		return err
	}
	return s.Resume(name)
}

// Stop stops one service (its subscriber, relay and timers), leaving its
// HTTP routes served; Resume runs it again.
func (s *Stack) Stop(ctx context.Context, name string) error {
	s.mu.Lock()
	r := s.runs[name]
	delete(s.runs, name)
	s.mu.Unlock()
	if r == nil {
		return fmt.Errorf("stack: %s is not running", name)
	}
	r.cancel()
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return fmt.Errorf("stack: stop %s: %w", name, ctx.Err())
	}
}

// Resume runs a freshly built instance of a service stopped with Stop.
func (s *Stack) Resume(name string) error {
	s.mu.Lock()
	_, isRunning := s.runs[name]
	s.mu.Unlock()
	if isRunning {
		return fmt.Errorf("stack: %s is running", name)
	}
	svc, err := s.build(name)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.services[name] = svc
	s.mu.Unlock()
	s.register(name, svc)
	s.run(name, svc)
	return nil
}

// HTTPURL is the API's base URL, e.g. "http://127.0.0.1:8080".
func (s *Stack) HTTPURL() string { return "http://" + s.httpLn.Addr().String() }

// HTTPAddr is the API listener's host:port.
func (s *Stack) HTTPAddr() string { return s.httpLn.Addr().String() }

// Admin is the registry behind the admin API (/api/admin/subscribers),
// holding every subscriber the stack runs.
func (s *Stack) Admin() *admin.Registry { return s.admin }

// Auth issues and verifies the platform's tokens.
func (s *Stack) Auth() *httpapi.Auth { return s.auth }

// EventStore is the stack's event-store client; the stack closes it.
func (s *Stack) EventStore() *esdb.Client { return s.es }

// EventStoreURL is the event store's esdb:// URL.
func (s *Stack) EventStoreURL() string { return s.esURL }

// Brokers is the Kafka bootstrap list.
func (s *Stack) Brokers() []string { return append([]string(nil), s.brokers...) }

// RedisURL is the projections' Redis, or "" without projections.
func (s *Stack) RedisURL() string { return s.redis }

// PSPURL is the card gateway's base URL.
func (s *Stack) PSPURL() string { return s.pspURL }

// PSP is the embedded gateway simulator, or nil when PSPURL was given.
func (s *Stack) PSP() *psp.Server { return s.psp }

// BreakerState reports the payments card-gateway breaker ("closed", "open",
// "half-open").
func (s *Stack) BreakerState() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.services[Payments]; ok {
		if p, ok := c.Service().(*payments.Service); ok {
			return p.BreakerState()
		}
	}
	return ""
}

// CheckReady reports, once, whether every service is ready: nil, or the
// reasons of those that are not.
func (s *Stack) CheckReady(ctx context.Context) error {
	if err := s.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	svcs := make(map[string]Component, len(s.services))
	for n, v := range s.services {
		if _, ok := s.runs[n]; ok {
			svcs[n] = v
		}
	}
	s.mu.Unlock()
	var errs []error
	for _, n := range []string{Catalog, Ordering, Payments, Projections} {
		v, ok := svcs[n]
		if !ok {
			if _, wired := s.services[n]; wired {
				errs = append(errs, fmt.Errorf("%s: stopped", n))
			}
			continue
		}
		if err := v.Ready(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Ready waits until every service is ready, the stack fails, or ctx ends.
func (s *Stack) Ready(ctx context.Context) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := s.CheckReady(ctx)
		if err == nil {
			return nil
		}
		if s.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stack not ready: %w (%w)", ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// Close stops HTTP, then the services (draining their subscribers and
// relays), then the embedded servers, within CloseTimeout. It is safe to
// call more than once.
func (s *Stack) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	runs := s.runs
	s.runs = map[string]*running{}
	s.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), CloseTimeout)
	defer cancel()
	var errs []error
	if s.httpSrv != nil {
		hctx, hcancel := context.WithTimeout(ctx, 3*time.Second)
		if err := s.httpSrv.Shutdown(hctx); err != nil {
			_ = s.httpSrv.Close()
		}
		hcancel()
	}
	for _, r := range runs {
		r.cancel()
	}
	for name, r := range runs {
		select {
		case <-r.done:
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("stack: %s did not stop within %v", name, CloseTimeout))
		}
	}
	s.closeInfra()
	return errors.Join(errs...)
}

func (s *Stack) closeInfra() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		_ = s.closers[i]()
	}
	s.closers = nil
}

// loadOrCreateSecret reads the JWT secret at path, or writes a new random
// one there (mode 0600) so that tokens stay valid across restarts.
func loadOrCreateSecret(path string) ([]byte, error) {
	if b, err := os.ReadFile(path); err == nil {
		secret := []byte(strings.TrimSpace(string(b)))
		if len(secret) < 32 {
			return nil, fmt.Errorf("stack: %s holds fewer than 32 bytes; delete it to generate a new one", path)
		}
		return secret, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("stack: read %s: %w", path, err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	secret := []byte(hex.EncodeToString(raw))
	if err := os.WriteFile(path, append(secret, '\n'), 0o600); err != nil {
		return nil, fmt.Errorf("stack: write %s: %w", path, err)
	}
	return secret, nil
}

func orFree(addr string) string {
	if addr == "" {
		return "127.0.0.1:0"
	}
	return addr
}
