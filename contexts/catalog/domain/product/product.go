// Package product is the catalog's product aggregate: what is sold, at what
// price, and how much of it is on hand, reserved for orders and committed.
// It holds the stock invariant received = available + reserved + committed,
// with available never below zero. Pure Go: no infrastructure.
package product

import (
	"errors"
	"fmt"
	"regexp"
	"unicode/utf8"
)

// Limits of the inputs a product accepts.
const (
	// MaxNameLength is the longest name, in characters.
	MaxNameLength = 200
	// MaxPriceCents is the highest price, so totals of any order fit an int64.
	MaxPriceCents = 1_000_000_000
	// MaxReceivedQuantity is the most stock one delivery may bring.
	MaxReceivedQuantity = 1_000_000
)

var skuRe = regexp.MustCompile(`^[A-Z0-9-]{3,32}$`)

// Errors of the product's rules; the app maps them to its slugs.
var (
	ErrInvalidSKU      = errors.New("sku must match [A-Z0-9-]{3,32}")
	ErrInvalidName     = fmt.Errorf("name must be 1..%d characters", MaxNameLength)
	ErrInvalidPrice    = fmt.Errorf("priceCents must be 1..%d", MaxPriceCents)
	ErrInvalidCurrency = errors.New("currency must be three upper-case letters")
	ErrInvalidQuantity = errors.New("quantity must be positive")
	ErrInvalidOrderID  = errors.New("order id must not be empty")
	ErrAlreadyListed   = errors.New("product already listed")
	ErrNotListed       = errors.New("product not listed")
	ErrOutOfStock      = errors.New("not enough stock available")
	ErrNotReserved     = errors.New("no reservation of this order on this product")
)

// ValidSKU reports whether sku is a well-formed stock keeping unit.
func ValidSKU(sku string) bool { return skuRe.MatchString(sku) }

// holdStatus is where one order's hold on this product stands.
type holdStatus int

const (
	holdReserved holdStatus = iota + 1
	holdReleased
	holdCommitted
	// holdVoided: the order's reservation was given up before it reached
	// this product, so a late reserve for it must not take stock.
	holdVoided
)

type hold struct {
	quantity int64
	status   holdStatus
}

// Product is the aggregate. Its zero value is not usable: build it with New
// (or fold its history into one). Not safe for concurrent use; the
// repository serialises writers by expected revision.
type Product struct {
	sku        string
	listed     bool
	name       string
	priceCents int64
	currency   string

	received  int64
	available int64
	reserved  int64
	committed int64
	holds     map[string]hold // by order id: the orders this product acted on

	pending []any
}

// New returns an empty product for sku, not yet listed.
func New(sku string) *Product {
	return &Product{sku: sku, holds: map[string]hold{}}
}

// SKU returns the product's stock keeping unit.
func (p *Product) SKU() string { return p.sku }

// Listed reports whether the product has been listed.
func (p *Product) Listed() bool { return p.listed }

// Name returns the product's name.
func (p *Product) Name() string { return p.name }

// PriceCents returns the current price.
func (p *Product) PriceCents() int64 { return p.priceCents }

// Currency returns the price's currency.
func (p *Product) Currency() string { return p.currency }

// Stock returns the counts of the stock invariant: received = available +
// reserved + committed.
func (p *Product) Stock() (received, available, reserved, committed int64) {
	return p.received, p.available, p.reserved, p.committed
}

// Reserved returns how much order holds reserved here (0 if none).
func (p *Product) Reserved(orderID string) int64 {
	if h, ok := p.holds[orderID]; ok && h.status == holdReserved {
		return h.quantity
	}
	return 0
}

// List puts the product on sale. It fails with ErrAlreadyListed the second
// time, whatever the arguments.
func (p *Product) List(name string, priceCents int64, currency string) error {
	if p.listed {
		return ErrAlreadyListed
	}
	if !ValidSKU(p.sku) {
		return ErrInvalidSKU
	}
	if err := validName(name); err != nil {
		return err
	}
	if err := validPrice(priceCents); err != nil {
		return err
	}
	if !validCurrency(currency) {
		return ErrInvalidCurrency
	}
	p.record(Listed{SKU: p.sku, Name: name, PriceCents: priceCents, Currency: currency})
	return nil
}

// Reprice sets a new price (the same price again is recorded too: the
// admin said it).
func (p *Product) Reprice(priceCents int64) error {
	if err := validPrice(priceCents); err != nil {
		return err
	}
	if !p.listed {
		return ErrNotListed
	}
	p.record(Repriced{SKU: p.sku, PriceCents: priceCents, Currency: p.currency})
	return nil
}

// ReceiveStock adds quantity (1..MaxReceivedQuantity) to the stock on hand.
func (p *Product) ReceiveStock(quantity int64) error {
	if quantity < 1 || quantity > MaxReceivedQuantity {
		return fmt.Errorf("%w: 1..%d", ErrInvalidQuantity, MaxReceivedQuantity)
	}
	if !p.listed {
		return ErrNotListed
	}
	p.record(StockReceived{SKU: p.sku, Quantity: quantity})
	return nil
}

// Reserve holds quantity for orderID out of the available stock. It is
// idempotent per order: once the product has acted on orderID (reserved,
// released, committed or voided it) a repeat records nothing and returns
// nil, so a resumed reservation never takes stock twice, and a reservation
// voided here is never taken later. Check Reserved to learn the outcome.
func (p *Product) Reserve(orderID string, quantity int64) error {
	if orderID == "" {
		return ErrInvalidOrderID
	}
	if !p.listed {
		return ErrNotListed
	}
	if _, seen := p.holds[orderID]; seen {
		return nil
	}
	if quantity < 1 {
		return ErrInvalidQuantity
	}
	if quantity > p.available {
		return fmt.Errorf("%w: %s has %d, %d wanted", ErrOutOfStock, p.sku, p.available, quantity)
	}
	p.record(StockReserved{SKU: p.sku, OrderID: orderID, Quantity: quantity})
	return nil
}

// Release gives orderID's reserved stock back to the available stock. For
// an order this product never reserved it records a void instead, so that a
// reserve for it arriving later (a slower, concurrent attempt) takes
// nothing. A repeat, or a release after a commit, records nothing. Release
// on a product that was never listed records nothing: nothing can be
// reserved there.
func (p *Product) Release(orderID string) error {
	if orderID == "" {
		return ErrInvalidOrderID
	}
	if !p.listed {
		return nil
	}
	h, seen := p.holds[orderID]
	switch {
	case !seen:
		p.record(ReservationVoided{SKU: p.sku, OrderID: orderID})
	case h.status == holdReserved:
		p.record(ReservationReleased{SKU: p.sku, OrderID: orderID, Quantity: h.quantity})
	}
	return nil
}

// Commit turns orderID's reserved stock into committed stock for good. A
// repeat records nothing; an order with no reservation here fails with
// ErrNotReserved.
func (p *Product) Commit(orderID string) error {
	h, seen := p.holds[orderID]
	switch {
	case seen && h.status == holdCommitted:
		return nil
	case !seen || h.status != holdReserved:
		return fmt.Errorf("%w: order %s on %s", ErrNotReserved, orderID, p.sku)
	}
	p.record(ReservationCommitted{SKU: p.sku, OrderID: orderID, Quantity: h.quantity})
	return nil
}

func validName(name string) error {
	n := utf8.RuneCountInString(name)
	if n < 1 || n > MaxNameLength || !utf8.ValidString(name) {
		return ErrInvalidName
	}
	for _, r := range name {
		if r != ' ' {
			return nil
		}
	}
	return ErrInvalidName
}

func validPrice(c int64) error {
	if c < 1 || c > MaxPriceCents {
		return ErrInvalidPrice
	}
	return nil
}

func validCurrency(c string) bool {
	if len(c) != 3 {
		return false
	}
	for _, r := range c {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}
