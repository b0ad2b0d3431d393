// Package gateway is the one public listener of Troupe's distributed
// deployment. It authenticates bearer tokens, rate-limits per token subject
// (per client IP for anonymous requests), refuses bodies over 64 KiB, and
// proxies each path of the design's HTTP API to the component that serves
// it, with a timeout and a circuit breaker per component. The admin API is
// fanned out: the subscriber list merges every component's, and a
// subscriber's routes go to the component that runs it.
//
// The components check tokens and ownership themselves too; the gateway's
// checks turn bad requests away before they cost a component anything.
package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"github.com/troupe-dev/troupe/shared/platform/httpapi"
)

// Component names, as the gateway's answers, logs and URLError spell them.
const (
	Catalog     = "catalog"
	Ordering    = "ordering"
	Payments    = "payments"
	Projections = "projections"
	Loyalty     = "loyalty"
	Webhook     = "webhook"
)

const (
	headerRequestID = "X-Request-Id"
	principalKey    = "gateway.principal"
	authErrKey      = "gateway.authError"
)

// Upstreams are the base URLs ("http://host:port") of the components.
// Webhook is optional: it only serves the admin API (its dead letters).
type Upstreams struct {
	Catalog, Ordering, Payments, Projections, Loyalty, Webhook string
}

// Config configures New. Zero fields take the defaults documented on each.
type Config struct {
	// Auth verifies bearer tokens; required.
	Auth *httpapi.Auth
	// Upstreams are the components' base URLs; all but Webhook required.
	Upstreams Upstreams
	// RateLimit is the sustained requests per second allowed to one token
	// subject (or one client IP without a token); default 100.
	RateLimit float64
	// RateBurst is how many requests one subject may send at once above
	// the sustained rate; default twice RateLimit.
	RateBurst int
	// MaxSubjects bounds the rate limiter's memory: beyond it the least
	// recently seen subject is forgotten; default 10000.
	MaxSubjects int
	// UpstreamTimeout bounds one proxied request, from sending it to the
	// end of the answer; default 15 s (above the 5 s a query may wait for
	// Troupe-Consistency).
	UpstreamTimeout time.Duration
	// BreakerFailures is how many consecutive transport failures (refused,
	// reset, timed out) open a component's circuit breaker; default 5.
	BreakerFailures uint32
	// BreakerOpenTimeout is how long an open breaker answers 503 before it
	// lets one probe request through; default 5 s.
	BreakerOpenTimeout time.Duration
	// ReadyTimeout bounds each component's /readyz probe behind the
	// gateway's /readyz; default 2 s.
	ReadyTimeout time.Duration
	// Transport carries requests to the components; default a pooled
	// http.Transport with a 5 s dial timeout.
	Transport http.RoundTripper
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.RateLimit == 0 {
		c.RateLimit = 100
	}
	if c.RateBurst == 0 {
		c.RateBurst = int(2 * c.RateLimit)
		if c.RateBurst < 1 {
			c.RateBurst = 1
		}
	}
	if c.MaxSubjects == 0 {
		c.MaxSubjects = 10000
	}
	if c.UpstreamTimeout == 0 {
		c.UpstreamTimeout = 15 * time.Second
	}
	if c.BreakerFailures == 0 {
		c.BreakerFailures = 5
	}
	if c.BreakerOpenTimeout == 0 {
		c.BreakerOpenTimeout = 5 * time.Second
	}
	if c.ReadyTimeout == 0 {
		c.ReadyTimeout = 2 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Transport == nil {
		c.Transport = &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        512,
			MaxIdleConnsPerHost: 128,
			IdleConnTimeout:     90 * time.Second,
		}
	}
}

// URLError is an upstream URL that is missing or not an absolute http(s)
// URL; Component names which one, so a command can name its flag.
type URLError struct {
	Component, URL string
	Err            error
}

func (e *URLError) Error() string {
	return fmt.Sprintf("gateway: %s upstream URL %q: %v", e.Component, e.URL, e.Err)
}

func (e *URLError) Unwrap() error { return e.Err }

// ErrMissingURL is wrapped by a URLError for a required upstream left
// empty.
var ErrMissingURL = errors.New("required")

// ParseUpstreamURL checks one upstream base URL: absolute, http or https,
// no query.
func ParseUpstreamURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("want an absolute http:// or https:// URL")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("a base URL has no query or fragment")
	}
	u.Path = strings.TrimRight(u.Path, "/")
	return u, nil
}

// Validate reports a configuration that cannot work; an upstream URL
// problem is a *URLError.
func (c *Config) Validate() error {
	if c.Auth == nil {
		return errors.New("gateway: Auth is required")
	}
	for _, u := range c.upstreamList() {
		if u.url == "" {
			if u.optional {
				continue
			}
			return &URLError{Component: u.name, Err: ErrMissingURL}
		}
		if _, err := ParseUpstreamURL(u.url); err != nil {
			return &URLError{Component: u.name, URL: u.url, Err: err}
		}
	}
	if c.RateLimit < 0 || c.RateBurst < 0 || c.MaxSubjects < 0 {
		return errors.New("gateway: RateLimit, RateBurst and MaxSubjects must not be negative")
	}
	if c.UpstreamTimeout < 0 || c.BreakerOpenTimeout < 0 || c.ReadyTimeout < 0 {
		return errors.New("gateway: timeouts must not be negative")
	}
	return nil
}

type namedURL struct {
	name, url string
	optional  bool
}

// upstreamList is the components in a fixed order: the order of the merged
// subscriber list and of the admin fan-out.
func (c *Config) upstreamList() []namedURL {
	u := c.Upstreams
	return []namedURL{
		{Catalog, u.Catalog, false}, {Ordering, u.Ordering, false}, {Payments, u.Payments, false},
		{Projections, u.Projections, false}, {Loyalty, u.Loyalty, false}, {Webhook, u.Webhook, true},
	}
}

// access is who may call a route.
type access int

const (
	anyone   access = iota // no token needed
	signedIn               // any valid token (ownership checked by the component)
	customer               // a customer token
	admin                  // an admin token
	owner                  // the customer named by :customerId, or an admin
)

// route is one path of the design's HTTP API and the component serving it.
type route struct {
	method, path, component string
	who                     access
}

// routeTable is the design's HTTP API ("HTTP API" in DESIGN.md), path by
// path.
func routeTable() []route {
	return []route{
		{http.MethodPost, "/api/catalog/products", Catalog, admin},
		{http.MethodPut, "/api/catalog/products/:sku/price", Catalog, admin},
		{http.MethodPost, "/api/catalog/products/:sku/stock", Catalog, admin},
		{http.MethodPost, "/api/orders", Ordering, customer},
		{http.MethodPost, "/api/orders/:orderId/cancel", Ordering, signedIn},
		{http.MethodPost, "/api/customers/:customerId/wallet/deposits", Payments, owner},
		{http.MethodGet, "/api/products", Projections, anyone},
		{http.MethodGet, "/api/products/:sku", Projections, anyone},
		{http.MethodGet, "/api/orders/:orderId", Projections, signedIn},
		{http.MethodGet, "/api/customers/:customerId/orders", Projections, owner},
		{http.MethodGet, "/api/customers/:customerId/wallet", Projections, owner},
		{http.MethodGet, "/api/stats/sales", Projections, admin},
		{http.MethodGet, "/api/customers/:customerId/loyalty", Loyalty, owner},
	}
}

// gateway holds the parts New wires together.
type gateway struct {
	cfg       Config
	auth      *httpapi.Auth
	limits    *limiters
	upstreams []*upstream // in upstreamList order, configured ones only
	byName    map[string]*upstream
}

// New returns the gateway's HTTP handler: the design's API routes, the
// admin API, /healthz and /readyz (ready when every component's /readyz
// answers 200). It is safe for concurrent use.
func New(cfg Config) (*echo.Echo, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := &gateway{cfg: cfg, auth: cfg.Auth, byName: make(map[string]*upstream),
		limits: newLimiters(rate.Limit(cfg.RateLimit), cfg.RateBurst, cfg.MaxSubjects)}
	for _, nu := range cfg.upstreamList() {
		if nu.url == "" {
			continue
		}
		base, _ := ParseUpstreamURL(nu.url) // checked by Validate
		u := newUpstream(nu.name, base, cfg.Transport, &cfg)
		g.upstreams = append(g.upstreams, u)
		g.byName[nu.name] = u
	}

	e := httpapi.New(httpapi.Config{Logger: cfg.Logger, Ready: g.ready})
	e.Use(g.requestID, g.identify)
	for _, r := range routeTable() {
		e.Add(r.method, r.path, g.proxyTo(g.byName[r.component]), g.require(r.who))
	}
	e.GET("/api/admin/subscribers", g.listSubscribers, g.require(admin))
	e.Any("/api/admin/subscribers/:name/*", g.forwardSubscriber, g.require(admin))
	return e, nil
}

// requestID gives every request an X-Request-Id (the caller's, or a new
// one), forwarded to the component and returned to the caller.
func (g *gateway) requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		id := r.Header.Get(headerRequestID)
		if id == "" {
			var b [16]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
			r.Header.Set(headerRequestID, id)
		}
		c.Response().Header().Set(headerRequestID, id)
		return next(c)
	}
}

// identify verifies the bearer token, when there is one, and charges the
// request to its subject's rate limit (the client IP's without a valid
// token): 429 with Retry-After once the bucket is empty. Health probes are
// not limited.
func (g *gateway) identify(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			return next(c)
		}
		key := "ip:" + clientIP(r)
		if token, ok := strings.CutPrefix(r.Header.Get(echo.HeaderAuthorization), "Bearer "); ok && token != "" {
			p, err := g.auth.Verify(token)
			if err != nil {
				c.Set(authErrKey, err)
			} else {
				c.Set(principalKey, p)
				key = p.Role + ":" + p.Subject
			}
		}
		if ok, wait := g.limits.allow(key, time.Now()); !ok {
			p := problem(http.StatusTooManyRequests, "too-many-requests",
				fmt.Sprintf("rate limit of %g requests/s (burst %d) exceeded; retry later", g.cfg.RateLimit, g.cfg.RateBurst))
			p.RetryAfter = retryAfterSeconds(wait)
			return p
		}
		return next(c)
	}
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// require answers 401 without a valid token and 403 for the wrong role
// or another customer's path, per the route's access.
func (g *gateway) require(who access) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if who == anyone {
				return next(c)
			}
			p, ok := c.Get(principalKey).(httpapi.Principal)
			if !ok {
				if err, bad := c.Get(authErrKey).(error); bad {
					return httpapi.Unauthorized("invalid token: " + err.Error())
				}
				return httpapi.Unauthorized("a bearer token is required")
			}
			switch who {
			case admin:
				if !p.IsAdmin() {
					return httpapi.Forbidden("this needs the role admin")
				}
			case customer:
				if p.Role != httpapi.RoleCustomer {
					return httpapi.Forbidden("this needs the role customer")
				}
			case owner:
				if !p.MayActFor(c.Param("customerId")) {
					return httpapi.Forbidden("only the customer " + c.Param("customerId") + " or an admin may do this")
				}
			}
			return next(c)
		}
	}
}

// proxyTo forwards the request to u once its body is read (within the 64
// KiB limit: 413 beyond it).
func (g *gateway) proxyTo(u *upstream) echo.HandlerFunc {
	return func(c echo.Context) error {
		if _, err := bufferBody(c.Request()); err != nil {
			return err
		}
		u.serve(c.Response(), c.Request())
		return nil
	}
}

// bufferBody reads the request body whole (the body limit middleware
// turns an oversized one into a 413 error) and puts it back, replayable.
func bufferBody(r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	b, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		var he *echo.HTTPError
		if errors.As(err, &he) {
			return nil, he
		}
		return nil, httpapi.BadRequest("cannot read the body: " + err.Error())
	}
	r.ContentLength = int64(len(b))
	if len(b) == 0 {
		r.Body = http.NoBody
	} else {
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
	return b, nil
}

// ready reports the components whose /readyz does not answer 200.
func (g *gateway) ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, g.cfg.ReadyTimeout)
	defer cancel()
	errs := make([]error, len(g.upstreams))
	var wg sync.WaitGroup
	for i, u := range g.upstreams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = u.ready(ctx)
		}()
	}
	wg.Wait()
	var msgs []string
	for _, err := range errs {
		if err != nil {
			msgs = append(msgs, err.Error())
		}
	}
	if len(msgs) > 0 {
		return errors.New(strings.Join(msgs, "; "))
	}
	return nil
}
