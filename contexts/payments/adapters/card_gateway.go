package adapters

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/sony/gobreaker/v2"

	"github.com/troupe-dev/troupe/contexts/payments/app"
)

// Defaults of CardGatewayConfig.
const (
	DefaultGatewayTimeout     = 2 * time.Second
	DefaultGatewayMaxAttempts = 3
	DefaultBreakerFailures    = 5
	DefaultBreakerOpenTimeout = 5 * time.Second
)

// CardGatewayConfig configures the card gateway client. URL is required.
type CardGatewayConfig struct {
	// URL is the gateway's base URL (TROUPE_PSP_URL).
	URL string
	// Timeout bounds each HTTP call. Default DefaultGatewayTimeout.
	Timeout time.Duration
	// MaxAttempts bounds the calls of one charge or refund, the first
	// included. Default DefaultGatewayMaxAttempts.
	MaxAttempts uint
	// RetryInitial and RetryMax bound the backoff between attempts.
	// Defaults 50 ms and 500 ms.
	RetryInitial, RetryMax time.Duration
	// BreakerFailures is how many consecutive failed calls (transport
	// errors, timeouts, 5xx) open the breaker. Default
	// DefaultBreakerFailures.
	BreakerFailures uint32
	// BreakerOpenTimeout is how long the breaker stays open before letting
	// one trial call through. Default DefaultBreakerOpenTimeout.
	BreakerOpenTimeout time.Duration
	// HTTPClient makes the calls; default a new client (the per-call
	// timeout is applied through the request's context).
	HTTPClient *http.Client
	// Logger receives the breaker's state changes; default slog.Default().
	Logger *slog.Logger
}

func (c *CardGatewayConfig) setDefaults() {
	if c.Timeout <= 0 {
		c.Timeout = DefaultGatewayTimeout
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultGatewayMaxAttempts
	}
	if c.RetryInitial <= 0 {
		c.RetryInitial = 50 * time.Millisecond
	}
	if c.RetryMax < c.RetryInitial {
		c.RetryMax = max(500*time.Millisecond, c.RetryInitial)
	}
	if c.BreakerFailures == 0 {
		c.BreakerFailures = DefaultBreakerFailures
	}
	if c.BreakerOpenTimeout <= 0 {
		c.BreakerOpenTimeout = DefaultBreakerOpenTimeout
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports a missing or malformed URL.
func (c *CardGatewayConfig) Validate() error {
	u, err := url.Parse(c.URL)
	if c.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("card gateway: URL %q must be an http(s) base URL (TROUPE_PSP_URL)", c.URL)
	}
	return nil
}

// CardGateway is the client of the external card gateway: every call has a
// timeout and goes through one circuit breaker; a charge is retried a
// bounded number of times with the payment id as idempotency key, and after
// an unanswered call it asks GET /payments/{key} before trying again. With
// the breaker open it fails at once with app.ErrGatewayUnavailable. It is
// safe for concurrent use.
type CardGateway struct {
	cfg     CardGatewayConfig
	base    string
	breaker *gobreaker.CircuitBreaker[gatewayAnswer]
}

// NewCardGateway returns a client, or the config's validation error.
func NewCardGateway(cfg CardGatewayConfig) (*CardGateway, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := &CardGateway{cfg: cfg, base: strings.TrimRight(cfg.URL, "/")}
	g.breaker = gobreaker.NewCircuitBreaker[gatewayAnswer](gobreaker.Settings{
		Name:        "card-gateway",
		MaxRequests: 1,
		Timeout:     cfg.BreakerOpenTimeout,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= cfg.BreakerFailures },
		OnStateChange: func(name string, from, to gobreaker.State) {
			cfg.Logger.Warn("card gateway circuit breaker", "from", from.String(), "to", to.String())
		},
		// A refusal of our request (4xx) is the gateway working.
		IsSuccessful: func(err error) bool {
			var re *rejectedError
			return err == nil || errors.As(err, &re)
		},
		// Our own shutdown says nothing about the gateway.
		IsExcluded: func(err error) bool { return errors.Is(err, context.Canceled) },
	})
	return g, nil
}

// BreakerState returns the breaker's state ("closed", "open", "half-open").
func (g *CardGateway) BreakerState() string { return g.breaker.State().String() }

type gatewayAnswer struct {
	status int
	body   []byte
}

// rejectedError is a 4xx answer: the gateway refused the request itself;
// retrying the same request cannot help.
type rejectedError struct {
	status int
	body   string
}

func (e *rejectedError) Error() string {
	return fmt.Sprintf("card gateway refused the request: %d %s", e.status, e.body)
}

type paymentAnswer struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

// Charge implements app.CardGateway.
func (g *CardGateway) Charge(ctx context.Context, c app.CardCharge) (app.CardResult, error) {
	body, _ := json.Marshal(map[string]any{"amountCents": c.AmountCents, "currency": c.Currency, "reference": c.Reference})
	return g.retry(ctx, "charge "+c.PaymentID, func() (app.CardResult, error) {
		ans, err := g.call(ctx, http.MethodPost, "/payments", c.PaymentID, body)
		if err != nil && ambiguous(err) {
			// The request may have reached the gateway: ask what it made
			// of it before deciding anything.
			if res, found, qerr := g.status(ctx, c.PaymentID); qerr == nil && found {
				return res, nil
			}
		}
		if err != nil {
			return app.CardResult{}, err
		}
		return decodePayment(ans)
	})
}

// status asks GET /payments/{key}; found is false for a 404.
func (g *CardGateway) status(ctx context.Context, key string) (app.CardResult, bool, error) {
	ans, err := g.call(ctx, http.MethodGet, "/payments/"+url.PathEscape(key), "", nil)
	var re *rejectedError
	if errors.As(err, &re) && re.status == http.StatusNotFound {
		return app.CardResult{}, false, nil
	}
	if err != nil {
		return app.CardResult{}, false, err
	}
	res, err := decodePayment(ans)
	return res, err == nil, err
}

// Refund implements app.CardGateway. The idempotency key derives from the
// payment id, so a repeated refund is the same refund at the gateway.
func (g *CardGateway) Refund(ctx context.Context, paymentID, gatewayID string, amountCents int64) error {
	body, _ := json.Marshal(map[string]any{"paymentId": gatewayID, "amountCents": amountCents})
	_, err := g.retry(ctx, "refund "+paymentID, func() (app.CardResult, error) {
		_, err := g.call(ctx, http.MethodPost, "/refunds", "refund-"+paymentID, body)
		return app.CardResult{}, err
	})
	return err
}

// retry runs op with bounded exponential backoff. A rejected request or an
// open breaker stops at once; giving up is app.ErrGatewayUnavailable unless
// ctx ended.
func (g *CardGateway) retry(ctx context.Context, what string, op func() (app.CardResult, error)) (app.CardResult, error) {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval = g.cfg.RetryInitial, g.cfg.RetryMax
	res, err := backoff.Retry(ctx, func() (app.CardResult, error) {
		res, err := op()
		var re *rejectedError
		if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) || errors.As(err, &re) {
			return res, backoff.Permanent(err)
		}
		return res, err
	}, backoff.WithBackOff(b), backoff.WithMaxTries(g.cfg.MaxAttempts), backoff.WithMaxElapsedTime(0))
	if err == nil {
		return res, nil
	}
	if ctx.Err() != nil {
		return res, fmt.Errorf("%s: %w", what, ctx.Err())
	}
	return res, fmt.Errorf("%s: %w: %w", what, app.ErrGatewayUnavailable, err)
}

// call makes one HTTP call through the breaker, within the timeout. 2xx is
// an answer; 4xx a rejectedError; anything else an error the breaker counts.
func (g *CardGateway) call(ctx context.Context, method, path, key string, body []byte) (gatewayAnswer, error) {
	return g.breaker.Execute(func() (gatewayAnswer, error) {
		cctx, cancel := context.WithTimeout(ctx, g.cfg.Timeout)
		defer cancel()
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(cctx, method, g.base+path, rd)
		if err != nil {
			return gatewayAnswer{}, &rejectedError{status: 0, body: err.Error()}
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		resp, err := g.cfg.HTTPClient.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return gatewayAnswer{}, ctx.Err()
			}
			return gatewayAnswer{}, &transportError{err: err}
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			return gatewayAnswer{}, &transportError{err: err}
		}
		switch {
		case resp.StatusCode >= 200 && resp.StatusCode < 300:
			return gatewayAnswer{status: resp.StatusCode, body: data}, nil
		case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests:
			return gatewayAnswer{}, &rejectedError{status: resp.StatusCode, body: strings.TrimSpace(string(data))}
		}
		return gatewayAnswer{}, fmt.Errorf("card gateway %s %s: %d %s", method, path, resp.StatusCode, strings.TrimSpace(string(data)))
	})
}

// transportError is a call that got no answer (timeout, connection lost):
// the gateway may or may not have acted on it.
type transportError struct{ err error }

func (e *transportError) Error() string { return "card gateway unreachable: " + e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

func ambiguous(err error) bool {
	var te *transportError
	return errors.As(err, &te)
}

func decodePayment(ans gatewayAnswer) (app.CardResult, error) {
	var p paymentAnswer
	if err := json.Unmarshal(ans.body, &p); err != nil || p.ID == "" {
		return app.CardResult{}, fmt.Errorf("card gateway: unreadable payment answer %q", ans.body)
	}
	switch p.Status {
	case "captured":
		return app.CardResult{GatewayID: p.ID, Captured: true}, nil
	case "declined":
		return app.CardResult{GatewayID: p.ID, Captured: false}, nil
	}
	return app.CardResult{}, fmt.Errorf("card gateway: unknown payment status %q", p.Status)
}
