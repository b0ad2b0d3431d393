// Package order is the order aggregate of the ordering context: an order is
// placed with lines priced from the price book, then reserved, confirmed or
// cancelled as the saga's events arrive. It imports the standard library
// only; the adapters map its events to streams and integration events.
package order

import (
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Status is where an order stands in the saga.
type Status string

// Statuses. CONFIRMED and CANCELLED are final.
const (
	StatusNew       Status = ""
	StatusPending   Status = "PENDING"
	StatusReserved  Status = "RESERVED"
	StatusConfirmed Status = "CONFIRMED"
	StatusCancelled Status = "CANCELLED"
)

// Reason says why an order was cancelled.
type Reason string

// Cancellation reasons.
const (
	ReasonOutOfStock        Reason = "out_of_stock"
	ReasonUnknownProduct    Reason = "unknown_product"
	ReasonPaymentFailed     Reason = "payment_failed"
	ReasonCustomerRequested Reason = "customer_requested"
	ReasonTimeout           Reason = "timeout"
)

// PaymentMethod is how the customer pays.
type PaymentMethod string

// Payment methods.
const (
	PaymentWallet PaymentMethod = "wallet"
	PaymentCard   PaymentMethod = "card"
)

// Limits on an order's lines.
const (
	MaxLines    = 100
	MaxQuantity = 1000
)

// Errors of the order's rules; callers match them with errors.Is.
var (
	ErrAlreadyPlaced       = errors.New("order already placed")
	ErrNotPlaced           = errors.New("order not placed")
	ErrAlreadyConfirmed    = errors.New("order already confirmed")
	ErrNotOwner            = errors.New("order belongs to another customer")
	ErrDeadlineNotReached  = errors.New("order deadline not reached")
	ErrIdempotencyMismatch = errors.New("idempotency key already used for a different request")
	ErrInvalidLine         = errors.New("invalid order line")
	ErrInvalidOrder        = errors.New("invalid order")
)

var skuRe = regexp.MustCompile(`^[A-Z0-9-]{3,32}$`)

// ValidSKU reports whether sku is a well-formed SKU ([A-Z0-9-]{3,32}).
func ValidSKU(sku string) bool { return skuRe.MatchString(sku) }

// ParsePaymentMethod returns the method named s, or false.
func ParsePaymentMethod(s string) (PaymentMethod, bool) {
	switch m := PaymentMethod(s); m {
	case PaymentWallet, PaymentCard:
		return m, true
	}
	return "", false
}

// ParseReason returns the reason named s, or false.
func ParseReason(s string) (Reason, bool) {
	switch r := Reason(s); r {
	case ReasonOutOfStock, ReasonUnknownProduct, ReasonPaymentFailed, ReasonCustomerRequested, ReasonTimeout:
		return r, true
	}
	return "", false
}

// Line is a priced order line. Build it with NewLine.
type Line struct {
	sku            string
	quantity       int
	unitPriceCents int64
}

// NewLine returns a line of quantity units of sku at unitPriceCents each,
// or an error wrapping ErrInvalidLine.
func NewLine(sku string, quantity int, unitPriceCents int64) (Line, error) {
	switch {
	case !ValidSKU(sku):
		return Line{}, fmt.Errorf("%w: sku %q must match [A-Z0-9-]{3,32}", ErrInvalidLine, sku)
	case quantity < 1 || quantity > MaxQuantity:
		return Line{}, fmt.Errorf("%w: quantity %d must be 1..%d", ErrInvalidLine, quantity, MaxQuantity)
	case unitPriceCents < 0:
		return Line{}, fmt.Errorf("%w: unit price %d is negative", ErrInvalidLine, unitPriceCents)
	}
	return Line{sku: sku, quantity: quantity, unitPriceCents: unitPriceCents}, nil
}

// SKU returns the line's product.
func (l Line) SKU() string { return l.sku }

// Quantity returns how many units the line orders.
func (l Line) Quantity() int { return l.quantity }

// UnitPriceCents returns the price of one unit when the order was placed.
func (l Line) UnitPriceCents() int64 { return l.unitPriceCents }

// Placement is what a customer asks for when placing an order.
type Placement struct {
	CustomerID    string
	Lines         []Line
	Currency      string
	PaymentMethod PaymentMethod
	PlacedAt      time.Time
	Deadline      time.Time
	// RequestHash identifies the request (for Idempotency-Key): a repeat
	// with the same hash is the same order, another hash is a mismatch.
	// Empty when the request carried no key.
	RequestHash string
	// ShippingAddress is optional; the zero Address means none was given.
	ShippingAddress Address
}

// Order is the order aggregate. The zero value is not usable; build one with
// New. Not safe for concurrent use.
type Order struct {
	id            string
	customerID    string
	lines         []Line
	totalCents    int64
	currency      string
	paymentMethod PaymentMethod
	placedAt      time.Time
	deadline      time.Time
	requestHash   string
	shipTo        Address
	status        Status
	reason        Reason
	causations    map[string]bool

	pending []any
}

// New returns the empty order id, before it is placed.
func New(id string) *Order {
	return &Order{id: id, causations: map[string]bool{}}
}

// ID returns the order id.
func (o *Order) ID() string { return o.id }

// CustomerID returns who placed the order.
func (o *Order) CustomerID() string { return o.customerID }

// Lines returns a copy of the order's lines.
func (o *Order) Lines() []Line { return append([]Line(nil), o.lines...) }

// TotalCents returns the sum of the lines.
func (o *Order) TotalCents() int64 { return o.totalCents }

// Currency returns the order's currency.
func (o *Order) Currency() string { return o.currency }

// PaymentMethod returns how the order is paid.
func (o *Order) PaymentMethod() PaymentMethod { return o.paymentMethod }

// PlacedAt returns when the order was placed.
func (o *Order) PlacedAt() time.Time { return o.placedAt }

// ShippingAddress returns where the order is delivered (the zero Address
// when the customer gave none).
func (o *Order) ShippingAddress() Address { return o.shipTo }

// Deadline returns when an unconfirmed order is cancelled.
func (o *Order) Deadline() time.Time { return o.deadline }

// Status returns the order's status (StatusNew before it is placed).
func (o *Order) Status() Status { return o.status }

// Reason returns why the order was cancelled, empty otherwise.
func (o *Order) Reason() Reason { return o.reason }

// Placed reports whether the order has been placed.
func (o *Order) Placed() bool { return o.status != StatusNew }

// Final reports whether the order is confirmed or cancelled.
func (o *Order) Final() bool { return o.status == StatusConfirmed || o.status == StatusCancelled }

// HasActedOn reports whether the order already acted on causation id.
func (o *Order) HasActedOn(causationID string) bool { return o.causations[causationID] }

// Place places the order. Placing it again with the same non-empty
// RequestHash and customer is a no-op (an idempotent repeat); anything else
// on a placed order is ErrIdempotencyMismatch (different request hash) or
// ErrAlreadyPlaced.
func (o *Order) Place(p Placement) error {
	if o.Placed() {
		if p.RequestHash != "" && p.RequestHash == o.requestHash && p.CustomerID == o.customerID {
			return nil
		}
		if p.RequestHash != "" && o.requestHash != "" {
			return ErrIdempotencyMismatch
		}
		return ErrAlreadyPlaced
	}
	switch {
	case p.CustomerID == "":
		return fmt.Errorf("%w: no customer", ErrInvalidOrder)
	case len(p.Lines) < 1 || len(p.Lines) > MaxLines:
		return fmt.Errorf("%w: %d lines, want 1..%d", ErrInvalidOrder, len(p.Lines), MaxLines)
	case p.Currency == "":
		return fmt.Errorf("%w: no currency", ErrInvalidOrder)
	case p.PlacedAt.IsZero() || !p.Deadline.After(p.PlacedAt):
		return fmt.Errorf("%w: the deadline must come after the placement", ErrInvalidOrder)
	}
	if _, ok := ParsePaymentMethod(string(p.PaymentMethod)); !ok {
		return fmt.Errorf("%w: payment method %q", ErrInvalidOrder, p.PaymentMethod)
	}
	var total int64
	lines := make([]PlacedLine, len(p.Lines))
	for i, l := range p.Lines {
		if _, err := NewLine(l.sku, l.quantity, l.unitPriceCents); err != nil {
			return fmt.Errorf("line %d: %w", i, err)
		}
		total += l.unitPriceCents * int64(l.quantity)
		lines[i] = PlacedLine{SKU: l.sku, Quantity: l.quantity, UnitPriceCents: l.unitPriceCents}
	}
	o.record(Placed{
		OrderID: o.id, CustomerID: p.CustomerID, Lines: lines, TotalCents: total, Currency: p.Currency,
		PaymentMethod: string(p.PaymentMethod), PlacedAt: p.PlacedAt.UTC(), Deadline: p.Deadline.UTC(),
		RequestHash: p.RequestHash, ShippingAddress: p.ShippingAddress.placed(),
	})
	return nil
}

// MarkReserved records that catalog reserved the order's stock. A repeat
// of causationID, or an order already past PENDING, is a no-op.
func (o *Order) MarkReserved(causationID string) error {
	if !o.Placed() {
		return ErrNotPlaced
	}
	if o.causations[causationID] || o.status != StatusPending {
		return nil
	}
	o.record(Reserved{CausationID: causationID})
	return nil
}

// Confirm confirms the order once its payment was captured. A repeat of
// causationID, a confirmed order, and a cancelled one (payments refunds a
// late capture itself) are no-ops.
func (o *Order) Confirm(causationID string) error {
	if !o.Placed() {
		return ErrNotPlaced
	}
	if o.causations[causationID] || o.Final() {
		return nil
	}
	o.record(Confirmed{CustomerID: o.customerID, TotalCents: o.totalCents, CausationID: causationID})
	return nil
}

// Cancel cancels the order for reason, in reaction to causationID (a source
// event). A repeat of causationID or a cancelled order is a no-op; a
// confirmed order is ErrAlreadyConfirmed.
func (o *Order) Cancel(reason Reason, causationID string) error {
	if !o.Placed() {
		return ErrNotPlaced
	}
	if _, ok := ParseReason(string(reason)); !ok {
		return fmt.Errorf("%w: reason %q", ErrInvalidOrder, reason)
	}
	if o.causations[causationID] || o.status == StatusCancelled {
		return nil
	}
	if o.status == StatusConfirmed {
		return ErrAlreadyConfirmed
	}
	o.record(Cancelled{CustomerID: o.customerID, Reason: string(reason), CausationID: causationID})
	return nil
}

// CancelByCustomer cancels the order at its owner's request: ErrNotOwner
// for anyone else, ErrAlreadyConfirmed once confirmed, a no-op when already
// cancelled.
func (o *Order) CancelByCustomer(customerID, causationID string) error {
	if !o.Placed() {
		return ErrNotPlaced
	}
	if customerID != o.customerID {
		return ErrNotOwner
	}
	return o.Cancel(ReasonCustomerRequested, causationID)
}

// Expire cancels the order with ReasonTimeout when now has reached its
// deadline: ErrDeadlineNotReached before that; a no-op once final.
func (o *Order) Expire(now time.Time, causationID string) error {
	if !o.Placed() {
		return ErrNotPlaced
	}
	if o.Final() {
		return nil
	}
	if now.Before(o.deadline) {
		return ErrDeadlineNotReached
	}
	return o.Cancel(ReasonTimeout, causationID)
}

// PendingEvents returns the events recorded since the order was built.
func (o *Order) PendingEvents() []any { return o.pending }

// ClearPendingEvents forgets the recorded events once they are saved, so
// the order can record the next ones.
func (o *Order) ClearPendingEvents() { o.pending = nil }

// ApplyEvent folds one stored event into the state; unknown events are
// ignored so that old code can read newer streams.
func (o *Order) ApplyEvent(e any) { o.apply(e) }

func (o *Order) record(e any) {
	o.apply(e)
	o.pending = append(o.pending, e)
}

func (o *Order) apply(e any) {
	switch e := e.(type) {
	case Placed:
		o.customerID, o.totalCents, o.currency = e.CustomerID, e.TotalCents, e.Currency
		o.paymentMethod, o.placedAt, o.deadline = PaymentMethod(e.PaymentMethod), e.PlacedAt, e.Deadline
		o.requestHash, o.shipTo = e.RequestHash, e.ShippingAddress.address()
		o.lines = make([]Line, len(e.Lines))
		for i, l := range e.Lines {
			o.lines[i] = Line{sku: l.SKU, quantity: l.Quantity, unitPriceCents: l.UnitPriceCents}
		}
		o.status = StatusPending
	case Reserved:
		o.status = StatusReserved
		o.remember(e.CausationID)
	case Confirmed:
		o.status = StatusConfirmed
		o.remember(e.CausationID)
	case Cancelled:
		o.status, o.reason = StatusCancelled, Reason(e.Reason)
		o.remember(e.CausationID)
	}
}

func (o *Order) remember(causationID string) {
	if causationID != "" {
		o.causations[causationID] = true
	}
}
