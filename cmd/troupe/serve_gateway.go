package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/troupe-dev/troupe/cmd/troupe/gateway"
	"github.com/troupe-dev/troupe/shared/platform/httpapi"
)

// gatewayShutdownTimeout bounds the drain after SIGTERM: the design's
// "stops cleanly within 10 s".
const gatewayShutdownTimeout = 10 * time.Second

type serveGatewayConfig struct {
	httpAddr        string
	jwtSecret       string
	catalogURL      string
	orderingURL     string
	paymentsURL     string
	projectionsURL  string
	loyaltyURL      string
	webhookURL      string
	rateLimit       string
	rateBurst       string
	upstreamTimeout string
}

// newServeGatewayCmd is `troupe serve gateway`: the distributed
// deployment's one public listener in front of the components.
func newServeGatewayCmd() *cobra.Command {
	var cfg serveGatewayConfig
	cmd := &cobra.Command{
		Use:   "gateway",
		Short: "Run the API gateway in front of the components",
		Long: "Serves the design's HTTP API on --http-addr: authenticates bearer tokens,\n" +
			"rate-limits per token subject (per client IP without a token; 429 with\n" +
			"Retry-After), refuses bodies over 64 KiB (413), and proxies each path to\n" +
			"its component with a timeout (504) and a circuit breaker per component\n" +
			"(503 with Retry-After while open; 502 when unreachable). The admin API is\n" +
			"fanned out to the components. /readyz answers 200 once every component's\n" +
			"/readyz does. SIGTERM or Ctrl-C drains within 10 s.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serveGateway(cmd.Context(), cmd.ErrOrStderr(), cfg)
		},
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	fs := cmd.Flags()
	envFlag(fs, &cfg.httpAddr, "http-addr", "127.0.0.1:8080", "the gateway's listener")
	envFlag(fs, &cfg.jwtSecret, "jwt-secret", "", "HS256 secret the tokens are signed with, at least 32 bytes (required)")
	envFlag(fs, &cfg.catalogURL, "catalog-url", "", "base URL of `troupe serve catalog` (required)")
	envFlag(fs, &cfg.orderingURL, "ordering-url", "", "base URL of `troupe serve ordering` (required)")
	envFlag(fs, &cfg.paymentsURL, "payments-url", "", "base URL of `troupe serve payments` (required)")
	envFlag(fs, &cfg.projectionsURL, "projections-url", "", "base URL of `troupe serve projections` (required)")
	envFlag(fs, &cfg.loyaltyURL, "loyalty-url", "", "base URL of `troupe serve loyalty` (required)")
	envFlag(fs, &cfg.webhookURL, "webhook-url", "", "base URL of `troupe serve webhook`, for the admin API of its subscribers (optional)")
	envFlag(fs, &cfg.rateLimit, "rate-limit", "100", "sustained requests per second per token subject (per client IP without a token)")
	envFlag(fs, &cfg.rateBurst, "rate-burst", "0", "requests one subject may send at once above the rate; 0: twice --rate-limit")
	envFlag(fs, &cfg.upstreamTimeout, "upstream-timeout", "15s", "longest wait for a component's answer (then 504)")
	return cmd
}

// config checks the flags and builds the gateway's configuration; every
// error is bad usage naming the flag.
func (c serveGatewayConfig) config(log *slog.Logger) (gateway.Config, error) {
	required := []struct{ flag, val string }{
		{"jwt-secret", c.jwtSecret}, {"catalog-url", c.catalogURL}, {"ordering-url", c.orderingURL},
		{"payments-url", c.paymentsURL}, {"projections-url", c.projectionsURL}, {"loyalty-url", c.loyaltyURL},
	}
	for _, r := range required {
		if r.val == "" {
			return gateway.Config{}, usageError{fmt.Errorf("serve gateway: --%s (env %s) is required", r.flag, envName(r.flag))}
		}
	}
	auth, err := httpapi.NewAuth([]byte(c.jwtSecret))
	if err != nil {
		return gateway.Config{}, usageError{fmt.Errorf("--jwt-secret: %v", err)}
	}
	limit, err := strconv.ParseFloat(c.rateLimit, 64)
	if err != nil || limit <= 0 {
		return gateway.Config{}, usageError{fmt.Errorf("--rate-limit %q: want a number of requests per second above 0", c.rateLimit)}
	}
	burst, err := strconv.Atoi(c.rateBurst)
	if err != nil || burst < 0 {
		return gateway.Config{}, usageError{fmt.Errorf("--rate-burst %q: want a whole number, 0 or more", c.rateBurst)}
	}
	timeout, err := time.ParseDuration(c.upstreamTimeout)
	if err != nil || timeout <= 0 {
		return gateway.Config{}, usageError{fmt.Errorf("--upstream-timeout %q: want a duration above 0 such as 15s", c.upstreamTimeout)}
	}
	cfg := gateway.Config{
		Auth: auth,
		Upstreams: gateway.Upstreams{Catalog: c.catalogURL, Ordering: c.orderingURL, Payments: c.paymentsURL,
			Projections: c.projectionsURL, Loyalty: c.loyaltyURL, Webhook: c.webhookURL},
		RateLimit: limit, RateBurst: burst, UpstreamTimeout: timeout, Logger: log,
	}
	if err := cfg.Validate(); err != nil {
		var ue *gateway.URLError
		if errors.As(err, &ue) {
			flag := ue.Component + "-url"
			return gateway.Config{}, usageError{fmt.Errorf("--%s (env %s) %q: %v", flag, envName(flag), ue.URL, ue.Err)}
		}
		return gateway.Config{}, usageError{err}
	}
	return cfg, nil
}

func serveGateway(ctx context.Context, stderr io.Writer, c serveGatewayConfig) error {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	cfg, err := c.config(log)
	if err != nil {
		return err
	}
	h, err := gateway.New(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.httpAddr)
	if err != nil {
		return fmt.Errorf("gateway: listen on %s: %v (change it with --http-addr)", c.httpAddr, unwrapNet(err))
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		// The answer may take the whole upstream timeout to come.
		WriteTimeout: cfg.UpstreamTimeout + 5*time.Second,
		IdleTimeout:  2 * time.Minute,
		ErrorLog:     slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("gateway serving", "addr", "http://"+ln.Addr().String(), "catalog", c.catalogURL, "ordering", c.orderingURL,
		"payments", c.paymentsURL, "projections", c.projectionsURL, "loyalty", c.loyaltyURL, "webhook", c.webhookURL)

	select {
	case err := <-served:
		return fmt.Errorf("gateway: serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	log.Info("gateway stopping")
	// ctx is done: the drain gets a fresh deadline of its own.
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), gatewayShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("gateway: drain within %s: %w", gatewayShutdownTimeout, err)
	}
	return nil
}

// envName is the environment variable of flag, as envFlag derives it.
func envName(flag string) string {
	return "TROUPE_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}
