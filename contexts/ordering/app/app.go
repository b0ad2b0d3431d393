// Package app holds the ordering context's use cases: the commands the HTTP
// API runs (one per file) and the policies that react to catalog's and
// payments' integration events. It knows the domain and two repository
// interfaces; the adapters supply the event store behind them.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/troupe-dev/troupe/contexts/ordering/domain/order"
	"github.com/troupe-dev/troupe/contexts/ordering/domain/pricebook"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

// Errors the ports map to responses (once, in ports).
var (
	// ErrNotFound: the order does not exist.
	ErrNotFound = errors.New("order not found")
	// ErrForbidden: the caller may not act on the order.
	ErrForbidden = errors.New("forbidden")
	// ErrConflict: the order's state forbids the command.
	ErrConflict = errors.New("conflict")
)

// Written says which stream a command wrote and the revision it reached,
// for the Troupe-Consistency header.
type Written struct {
	Stream   string
	Revision uint64
	// Appended is how many events were appended (0 for an idempotent repeat).
	Appended int
}

// Orders is the order repository. Update loads the order (a fresh one when
// its stream does not exist), calls fn and appends what fn recorded with
// the loaded revision as the expected one, retrying on conflicts; it must
// be safe for concurrent use.
type Orders interface {
	Update(ctx context.Context, orderID string, fn func(*order.Order) error) (Written, error)
}

// Prices is the price-book repository, with the same contract as Orders;
// Load returns an unlisted entry for a SKU never seen.
type Prices interface {
	Update(ctx context.Context, sku string, fn func(*pricebook.Entry) error) (Written, error)
	Load(ctx context.Context, sku string) (*pricebook.Entry, error)
}

// Config configures an App.
type Config struct {
	// Orders and Prices are required.
	Orders Orders
	Prices Prices
	// Currency of every order; default "EUR".
	Currency string
	// OrderTimeout is how long an order may stay unconfirmed; default 60s.
	OrderTimeout time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives events ignored by policies; default slog.Default().
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Currency == "" {
		c.Currency = "EUR"
	}
	if c.OrderTimeout == 0 {
		c.OrderTimeout = 60 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports the first missing or invalid setting.
func (c *Config) Validate() error {
	switch {
	case c.Orders == nil || c.Prices == nil:
		return errors.New("ordering app: Orders and Prices are required")
	case c.OrderTimeout < 0:
		return fmt.Errorf("ordering app: OrderTimeout %v is negative", c.OrderTimeout)
	}
	return nil
}

// App runs the ordering context's commands and policies. It is safe for
// concurrent use.
type App struct {
	cfg Config
}

// New returns an App for cfg after defaults, or the config's error.
func New(cfg Config) (*App, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &App{cfg: cfg}, nil
}

// Cause identifies the integration event a policy reacts to: its
// deterministic id (the causation id the order records, and the source of
// the ids of the events it appends, so a redelivery appends nothing new),
// its correlation id and trace.
type Cause struct {
	EventID       string
	CorrelationID string
	Traceparent   string
}

// under returns ctx carrying the cause's metadata for the appends it leads to.
func (c Cause) under(ctx context.Context) context.Context {
	if c.CorrelationID != "" {
		ctx = eventstore.WithCorrelation(ctx, c.CorrelationID)
	}
	if c.Traceparent != "" {
		ctx = eventstore.WithTraceparent(ctx, c.Traceparent)
	}
	if c.EventID != "" {
		ctx = eventstore.WithCausation(ctx, c.EventID)
		ctx = eventstore.WithEventIDSource(ctx, c.EventID)
	}
	return ctx
}
