// Package pricebook is ordering's local copy of catalog's prices: one
// aggregate per SKU, fed by catalog's product_listed and product_repriced
// events and read when an order is placed. It imports the standard library
// only.
package pricebook

import (
	"errors"
	"fmt"
)

// Errors of the price book's rules.
var (
	ErrInvalidPrice = errors.New("invalid price")
	ErrNotListed    = errors.New("product not listed")
)

// Entry is the price of one SKU. Build it with New. Not safe for concurrent
// use.
type Entry struct {
	sku        string
	listed     bool
	name       string
	priceCents int64
	currency   string
	// sourceRevision is the last catalog stream revision applied: catalog
	// publishes a product's events in order, so anything at or below it is a
	// repeat.
	sourceRevision uint64
	seen           bool

	pending []any
}

// New returns the entry of sku before catalog listed it.
func New(sku string) *Entry { return &Entry{sku: sku} }

// SKU returns the product's SKU.
func (e *Entry) SKU() string { return e.sku }

// Listed reports whether catalog listed the product.
func (e *Entry) Listed() bool { return e.listed }

// Name returns the product's name.
func (e *Entry) Name() string { return e.name }

// PriceCents returns the current unit price.
func (e *Entry) PriceCents() int64 { return e.priceCents }

// Currency returns the price's currency.
func (e *Entry) Currency() string { return e.currency }

// applied reports whether the catalog event at sourceRevision was already
// applied.
func (e *Entry) applied(sourceRevision uint64) bool {
	return e.seen && sourceRevision <= e.sourceRevision
}

// List records that catalog listed the product, from catalog's event at
// sourceRevision of the product's stream; a repeat (at or below the last
// revision applied) is a no-op.
func (e *Entry) List(name string, priceCents int64, currency string, sourceRevision uint64) error {
	if priceCents < 0 || currency == "" {
		return fmt.Errorf("%w: %d %q", ErrInvalidPrice, priceCents, currency)
	}
	if e.applied(sourceRevision) {
		return nil
	}
	e.record(Listed{SKU: e.sku, Name: name, PriceCents: priceCents, Currency: currency, SourceRevision: sourceRevision})
	return nil
}

// Reprice records catalog's new price, from its event at sourceRevision; a
// repeat is a no-op. A reprice seen before the listing still sets the price
// (catalog never reprices an unlisted product, so the listing is on its way
// or was lost to a rebuild).
func (e *Entry) Reprice(priceCents int64, currency string, sourceRevision uint64) error {
	if priceCents < 0 || currency == "" {
		return fmt.Errorf("%w: %d %q", ErrInvalidPrice, priceCents, currency)
	}
	if e.applied(sourceRevision) {
		return nil
	}
	e.record(Repriced{SKU: e.sku, PriceCents: priceCents, Currency: currency, SourceRevision: sourceRevision})
	return nil
}

// Price returns the unit price to order at, or ErrNotListed.
func (e *Entry) Price() (priceCents int64, currency string, err error) {
	if !e.listed {
		return 0, "", fmt.Errorf("%s: %w", e.sku, ErrNotListed)
	}
	return e.priceCents, e.currency, nil
}

// PendingEvents returns the events recorded since the entry was built.
func (e *Entry) PendingEvents() []any { return e.pending }

// ClearPendingEvents forgets the recorded events once they are saved, so
// the entry can record the next ones.
func (e *Entry) ClearPendingEvents() { e.pending = nil }

// ApplyEvent folds one stored event into the state.
func (e *Entry) ApplyEvent(ev any) { e.apply(ev) }

func (e *Entry) record(ev any) {
	e.apply(ev)
	e.pending = append(e.pending, ev)
}

func (e *Entry) apply(ev any) {
	switch ev := ev.(type) {
	case Listed:
		e.listed, e.name, e.priceCents, e.currency = true, ev.Name, ev.PriceCents, ev.Currency
		e.sourceRevision, e.seen = ev.SourceRevision, true
	case Repriced:
		e.listed, e.priceCents, e.currency = true, ev.PriceCents, ev.Currency
		e.sourceRevision, e.seen = ev.SourceRevision, true
	}
}
