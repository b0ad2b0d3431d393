// Package app holds the catalog's use cases: the admin commands on products
// and the policies that react to ordering's events by reserving, committing
// and releasing stock, one file each.
package app

import (
	"context"
	"errors"
	"log/slog"

	"github.com/troupe-dev/troupe/contexts/catalog/domain/product"
	"github.com/troupe-dev/troupe/contexts/catalog/domain/reservation"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

// Repository is what the app needs of an aggregate store: load (or create)
// an aggregate, let fn record events on it, append them with the loaded
// revision as the expected one, and reload and call fn again on a conflict.
// eventstore.Repository satisfies it.
type Repository[A any] interface {
	Update(ctx context.Context, id string, fn func(A) error) (eventstore.Result, error)
}

// Application is the catalog's use cases over its two repositories. It is
// safe for concurrent use: aggregates are serialised by the store's
// expected revisions, not by locks.
type Application struct {
	products     Repository[*product.Product]
	reservations Repository[*reservation.Reservation]
	currency     string
	logger       *slog.Logger
}

// Config configures New.
type Config struct {
	// Products and Reservations store the aggregates. Required.
	Products     Repository[*product.Product]
	Reservations Repository[*reservation.Reservation]
	// Currency is the deployment's one currency; default "EUR".
	Currency string
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// New returns the Application, or an error naming a missing dependency.
func New(cfg Config) (*Application, error) {
	if cfg.Products == nil || cfg.Reservations == nil {
		return nil, errors.New("catalog app: Products and Reservations are required")
	}
	if cfg.Currency == "" {
		cfg.Currency = "EUR"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Application{products: cfg.Products, reservations: cfg.Reservations, currency: cfg.Currency, logger: cfg.Logger}, nil
}
