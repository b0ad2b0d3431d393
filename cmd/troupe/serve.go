package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/troupe-dev/troupe/cmd/troupe/stack"
	"github.com/troupe-dev/troupe/shared/platform/admin"
	"github.com/troupe-dev/troupe/shared/platform/httpapi"
	webhook "github.com/troupe-dev/troupe/subscribers/webhook/service"
)

// serveStopTimeout bounds a component's stop after SIGTERM or SIGINT: the
// design's 10 s.
const serveStopTimeout = 10 * time.Second

// serveConfig is what `troupe serve <component>` is started with.
type serveConfig struct {
	httpAddr      string
	eventstoreURL string
	kafkaBrokers  string
	redisURL      string
	jwtSecret     string
	pspURL        string
	currency      string
	orderTimeout  string
	webhooksFile  string
	logFormat     string
	logLevel      string
}

// serveNeeds says which settings a component requires.
type serveNeeds struct {
	eventstore, redis, psp, webhooks, currency, orderTimeout bool
	short                                                    string
}

var serveComponents = map[string]serveNeeds{
	stack.Catalog:     {eventstore: true, currency: true, short: "products, stock and reservations; the catalog relay"},
	stack.Ordering:    {eventstore: true, currency: true, orderTimeout: true, short: "orders, the price book and order deadlines; the ordering relay"},
	stack.Payments:    {eventstore: true, currency: true, psp: true, short: "wallets and payments through the card gateway; the payments relay"},
	stack.Projections: {redis: true, short: "the read models in Redis and the query API"},
	stack.Loyalty:     {redis: true, short: "the loyalty points subscriber and its query API"},
	stack.Webhook:     {webhooks: true, short: "the webhook forwarder (one consumer group per webhook)"},
}

func newServeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve <component>",
		Short: "Run one component of the distributed deployment",
		Long: "Runs one component (catalog, ordering, payments, projections, loyalty, webhook,\n" +
			"or gateway, the public listener in front of them: see `troupe serve gateway --help`)\n" +
			"against running servers: it never starts embedded ones, and requires their URLs\n" +
			"and the JWT secret (flags or TROUPE_* variables). It serves the component's\n" +
			"routes, the admin API over its subscribers (/api/admin/subscribers), /healthz and\n" +
			"/readyz, logs to stderr, and stops within 10 s of\n" +
			"SIGTERM or SIGINT. Several instances of one component may run at once.",
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError{errors.New("serve: name a component: catalog, ordering, payments, projections, loyalty, webhook or gateway")}
			}
			return usageError{fmt.Errorf("serve: unknown component %q: want catalog, ordering, payments, projections, loyalty, webhook or gateway", args[0])}
		},
	}
	for _, name := range stack.Components {
		cmd.AddCommand(newServeComponentCmd(name))
	}
	cmd.AddCommand(newServeGatewayCmd())
	return cmd
}

func newServeComponentCmd(name string) *cobra.Command {
	needs := serveComponents[name]
	var cfg serveConfig
	cmd := &cobra.Command{
		Use:   name,
		Short: "Serve " + needs.short,
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stack.TuneGC()
			return serve(cmd.Context(), cmd.ErrOrStderr(), name, needs, cfg)
		},
	}
	fs := cmd.Flags()
	envFlag(fs, &cfg.httpAddr, "http-addr", "127.0.0.1:8080", "API listener (/healthz, /readyz and the component's routes)")
	if needs.eventstore {
		envFlag(fs, &cfg.eventstoreURL, "eventstore-url", "", "the event store, esdb://host:port?tls=false (required)")
	}
	envFlag(fs, &cfg.kafkaBrokers, "kafka-brokers", "", "comma-separated Kafka brokers (required)")
	if needs.redis {
		envFlag(fs, &cfg.redisURL, "redis-url", "", "the read models' Redis, redis://host:port/db (required)")
	}
	envFlag(fs, &cfg.jwtSecret, "jwt-secret", "", "HS256 signing secret, at least 32 bytes (required)")
	if needs.psp {
		envFlag(fs, &cfg.pspURL, "psp-url", "", "the card payment gateway's base URL (required)")
	}
	if needs.currency {
		envFlag(fs, &cfg.currency, "currency", "EUR", "the deployment's one currency")
	}
	if needs.orderTimeout {
		envFlag(fs, &cfg.orderTimeout, "order-timeout", "60s", "an order not confirmed by then is cancelled")
	}
	if needs.webhooks {
		fs.StringVar(&cfg.webhooksFile, "webhooks", "", "a JSON file of webhooks [{name, url, secret, types}] (else env "+webhook.EnvWebhooks+" holds the JSON; one of them is required)")
	}
	envFlag(fs, &cfg.logFormat, "log-format", "text", "log lines on stderr: text or json")
	envFlag(fs, &cfg.logLevel, "log-level", "info", "least severe level logged: debug, info, warn or error")
	return cmd
}

// required fails with exit 2 naming the flag and its variable when v is empty.
func required(v, flag, component string) error {
	if strings.TrimSpace(v) != "" {
		return nil
	}
	env := "TROUPE_" + strings.ToUpper(strings.ReplaceAll(strings.TrimPrefix(flag, "--"), "-", "_"))
	return usageError{fmt.Errorf("serve %s: %s (or %s) is required", component, flag, env)}
}

// serveParams is a serveConfig checked and parsed.
type serveParams struct {
	deps   stack.Deps
	logger *slog.Logger
}

// parseServe checks the settings without touching the network: every
// problem here is bad usage (exit 2).
func parseServe(stderr io.Writer, name string, needs serveNeeds, cfg serveConfig) (serveParams, error) {
	var p serveParams
	checks := []struct {
		need      bool
		v, flag   string
		component string
	}{
		{needs.eventstore, cfg.eventstoreURL, "--eventstore-url", name},
		{true, cfg.kafkaBrokers, "--kafka-brokers", name},
		{needs.redis, cfg.redisURL, "--redis-url", name},
		{needs.psp, cfg.pspURL, "--psp-url", name},
		{true, cfg.jwtSecret, "--jwt-secret", name},
	}
	for _, c := range checks {
		if !c.need {
			continue
		}
		if err := required(c.v, c.flag, c.component); err != nil {
			return p, err
		}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.logLevel)); err != nil {
		return p, usageError{fmt.Errorf("--log-level %q: want debug, info, warn or error", cfg.logLevel)}
	}
	opts := &slog.HandlerOptions{Level: level}
	switch cfg.logFormat {
	case "text":
		p.logger = slog.New(slog.NewTextHandler(stderr, opts))
	case "json":
		p.logger = slog.New(slog.NewJSONHandler(stderr, opts))
	default:
		return p, usageError{fmt.Errorf("--log-format %q: want text or json", cfg.logFormat)}
	}
	p.logger = p.logger.With("component", name)
	auth, err := httpapi.NewAuth([]byte(cfg.jwtSecret))
	if err != nil {
		return p, usageError{fmt.Errorf("--jwt-secret: %v", err)}
	}
	p.deps = stack.Deps{Auth: auth, Logger: p.logger, RedisURL: cfg.redisURL, PSPURL: strings.TrimRight(cfg.pspURL, "/")}
	if needs.currency {
		if len(cfg.currency) != 3 || strings.ToUpper(cfg.currency) != cfg.currency {
			return p, usageError{fmt.Errorf("--currency %q: want a three-letter upper-case code such as EUR", cfg.currency)}
		}
		p.deps.Currency = cfg.currency
	}
	if needs.orderTimeout {
		d, err := time.ParseDuration(cfg.orderTimeout)
		if err != nil || d <= 0 {
			return p, usageError{fmt.Errorf("--order-timeout %q: want a positive duration such as 60s", cfg.orderTimeout)}
		}
		p.deps.OrderTimeout = d
	}
	if needs.psp {
		u, err := url.Parse(p.deps.PSPURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return p, usageError{fmt.Errorf("--psp-url %q: want an http(s) URL such as http://psp:8080", cfg.pspURL)}
		}
	}
	if needs.webhooks {
		hooks, err := webhook.LoadConfig(cfg.webhooksFile, os.Getenv(webhook.EnvWebhooks))
		if err != nil {
			return p, usageError{err}
		}
		if len(hooks) == 0 {
			return p, usageError{fmt.Errorf("serve webhook: --webhooks FILE (or %s holding the JSON) is required", webhook.EnvWebhooks)}
		}
		p.deps.Webhooks = hooks
	}
	return p, nil
}

// serve runs one component until ctx ends (SIGTERM, SIGINT) or it fails.
func serve(ctx context.Context, stderr io.Writer, name string, needs serveNeeds, cfg serveConfig) error {
	p, err := parseServe(stderr, name, needs, cfg)
	if err != nil {
		return err
	}
	log := p.logger
	// A busy port fails at once, before anything joins a consumer group.
	ln, err := net.Listen("tcp", cfg.httpAddr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %v (change it with --http-addr)", cfg.httpAddr, unwrapNet(err))
	}
	defer ln.Close()

	// Every server must answer within reachTimeout; the checks run one
	// after the other, so name the first one that does not.
	t := target{eventstoreURL: cfg.eventstoreURL, kafkaBrokers: cfg.kafkaBrokers, redisURL: cfg.redisURL}
	if p.deps.Brokers, err = t.brokers(ctx); err != nil {
		return err
	}
	if needs.redis {
		if _, err := t.redis(ctx); err != nil {
			return err
		}
	}
	if needs.psp {
		u, _ := url.Parse(p.deps.PSPURL)
		host := u.Host
		if u.Port() == "" {
			host = net.JoinHostPort(u.Hostname(), map[string]string{"http": "80", "https": "443"}[u.Scheme])
		}
		if err := dialCheck(ctx, host, "card gateway", "--psp-url"); err != nil {
			return err
		}
	}
	if needs.eventstore {
		es, err := t.eventStore(ctx)
		if err != nil {
			return err
		}
		defer es.Close()
		p.deps.EventStore = es
	}

	comp, err := stack.Build(name, p.deps)
	if err != nil {
		return err
	}
	defer comp.Close()
	e := httpapi.New(httpapi.Config{Logger: log, Ready: comp.Ready})
	comp.Routes(e)
	// The admin API (/api/admin/subscribers) over this process's
	// subscribers; the gateway merges the components' lists.
	registry := admin.NewRegistry()
	registry.Add(name, comp.Subscribers()...)
	registry.Routes(e, p.deps.Auth)
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second}
	httpErr := make(chan error, 1)
	go func() { httpErr <- srv.Serve(ln) }()

	// The component runs on a context of its own: on a signal, HTTP stops
	// taking requests first, then the subscribers and relays drain.
	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRun()
	runErr := make(chan error, 1)
	go func() { runErr <- comp.Run(runCtx) }()
	log.Info("serving", "http", "http://"+ln.Addr().String())
	go logReady(runCtx, log, comp)

	var failure error
	select {
	case <-ctx.Done():
		log.Info("stopping")
	case err := <-runErr:
		if err == nil {
			err = errors.New("stopped unexpectedly")
		}
		failure = fmt.Errorf("%s: %w", name, err)
		runErr <- nil
	case err := <-httpErr:
		failure = fmt.Errorf("%s: http: %w", name, err)
	}

	deadline := time.Now().Add(serveStopTimeout)
	hctx, hcancel := context.WithTimeout(context.Background(), 3*time.Second)
	if err := srv.Shutdown(hctx); err != nil {
		_ = srv.Close()
	}
	hcancel()
	stopRun()
	select {
	case err := <-runErr:
		if err != nil && failure == nil {
			failure = fmt.Errorf("%s: %w", name, err)
		}
	case <-time.After(time.Until(deadline)):
		if failure == nil {
			failure = fmt.Errorf("%s did not stop within %v", name, serveStopTimeout)
		}
	}
	if failure != nil {
		return failure
	}
	log.Info("stopped")
	return nil
}

// logReady logs once when the component first reports ready.
func logReady(ctx context.Context, log *slog.Logger, comp stack.Component) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if comp.Ready(ctx) == nil {
			log.Info("ready")
			return
		}
	}
}
