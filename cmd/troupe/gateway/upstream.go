package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/troupe-dev/troupe/shared/platform/httpapi"
)

// upstream is one component behind the gateway: a reverse proxy whose
// round trips go through the component's own circuit breaker, so one
// component being down never slows the routes of the others.
type upstream struct {
	name        string
	base        *url.URL
	timeout     time.Duration
	openTimeout time.Duration
	raw         http.RoundTripper
	breaker     *gobreaker.CircuitBreaker[*http.Response]
	proxy       *httputil.ReverseProxy
	client      *http.Client
	log         *slog.Logger
}

func newUpstream(name string, base *url.URL, raw http.RoundTripper, cfg *Config) *upstream {
	u := &upstream{name: name, base: base, timeout: cfg.UpstreamTimeout, openTimeout: cfg.BreakerOpenTimeout,
		raw: raw, log: cfg.Logger}
	failures := cfg.BreakerFailures
	u.breaker = gobreaker.NewCircuitBreaker[*http.Response](gobreaker.Settings{
		Name:        name,
		MaxRequests: 1,
		Timeout:     cfg.BreakerOpenTimeout,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
		// A caller that went away says nothing about the upstream.
		IsExcluded: func(err error) bool { return errors.Is(err, context.Canceled) },
		OnStateChange: func(name string, from, to gobreaker.State) {
			cfg.Logger.Warn("gateway: circuit breaker", "upstream", name, "from", from.String(), "to", to.String())
		},
	})
	u.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(base)
			pr.SetXForwarded()
		},
		// The gateway sets X-Request-Id on every answer itself; an
		// upstream echoing it must not make it appear twice.
		ModifyResponse: func(resp *http.Response) error {
			resp.Header.Del(headerRequestID)
			return nil
		},
		Transport:    u,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) { writeProblem(w, u.problem(r.Context(), err)) },
		ErrorLog:     slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	u.client = &http.Client{Transport: u, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	return u
}

// RoundTrip sends req through the breaker: a transport error (refused,
// reset, timed out) counts as a failure; any HTTP answer, 5xx included,
// counts as a success, since the component did answer.
func (u *upstream) RoundTrip(req *http.Request) (*http.Response, error) {
	return u.breaker.Execute(func() (*http.Response, error) { return u.raw.RoundTrip(req) })
}

// serve proxies the request (whose body the caller has already buffered)
// to the upstream within the upstream timeout.
func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), u.timeout)
	defer cancel()
	u.proxy.ServeHTTP(w, r.WithContext(ctx))
}

// problem maps a failed round trip to the gateway's answer: 503 with
// Retry-After while the breaker is open, 504 when the upstream timeout
// passed, 502 otherwise.
func (u *upstream) problem(ctx context.Context, err error) *httpapi.Problem {
	switch {
	case errors.Is(err, gobreaker.ErrOpenState), errors.Is(err, gobreaker.ErrTooManyRequests):
		return httpapi.Unavailable(u.name+" is unavailable (circuit breaker open after repeated failures)",
			retryAfterSeconds(u.openTimeout))
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		u.log.Warn("gateway: upstream timeout", "upstream", u.name, "timeout", u.timeout, "err", err)
		return problem(http.StatusGatewayTimeout, "gateway-timeout",
			fmt.Sprintf("%s did not answer within %s", u.name, u.timeout))
	case errors.Is(ctx.Err(), context.Canceled):
		// The caller is gone; nobody reads this answer.
		return problem(499, "client-closed-request", "the request was cancelled")
	}
	u.log.Warn("gateway: upstream unreachable", "upstream", u.name, "url", u.base.String(), "err", err)
	return problem(http.StatusBadGateway, "bad-gateway", u.name+" is unreachable")
}

// ready asks the upstream's /readyz, bypassing the breaker so that probes
// neither trip it nor are refused by it.
func (u *upstream) ready(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.base.JoinPath("/readyz").String(), nil)
	if err != nil {
		return err
	}
	resp, err := u.raw.RoundTrip(req)
	if err != nil {
		return fmt.Errorf("%s: %w", u.name, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: /readyz answered %d", u.name, resp.StatusCode)
	}
	return nil
}

// problem builds a problem+json answer with the given status and slug.
func problem(status int, slug, detail string) *httpapi.Problem {
	title := http.StatusText(status)
	if title == "" {
		title = "Client Closed Request"
	}
	return &httpapi.Problem{Type: "https://troupe.dev/problems/" + slug, Title: title, Status: status, Detail: detail}
}

// writeProblem writes p outside echo (from the reverse proxy's error
// handler), exactly as httpapi's error handler would.
func writeProblem(w http.ResponseWriter, p *httpapi.Problem) {
	if p.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(p.RetryAfter))
	}
	w.Header().Set("Content-Type", httpapi.ContentTypeProblem)
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}
