// Package payment is the payment aggregate, one per order: it learns the
// amount due from the order's placement and the stock reservation (in either
// order), captures once both are known unless it knows the order is
// cancelled, and refunds exactly once a capture that the cancellation
// overtook.
package payment

import (
	"errors"
	"fmt"
)

// Method is how an order is paid.
type Method string

// Payment methods.
const (
	MethodWallet Method = "wallet"
	MethodCard   Method = "card"
)

// Reason says why a capture failed.
type Reason string

// Failure reasons.
const (
	ReasonInsufficientFunds  Reason = "insufficient_funds"
	ReasonCardDeclined       Reason = "card_declined"
	ReasonGatewayUnavailable Reason = "gateway_unavailable"
)

// Status is where the payment's capture stands.
type Status int

// Statuses, in the order a payment goes through them.
const (
	// StatusOpen: no capture started yet.
	StatusOpen Status = iota
	// StatusCapturing: the capture intent is recorded; its outcome is not.
	StatusCapturing
	// StatusCaptured: the money was taken (it may be refunded since).
	StatusCaptured
	// StatusFailed: the money could not be taken; final.
	StatusFailed
)

// Step is what the payment needs done next.
type Step int

// Steps.
const (
	// StepNone: nothing to do until another fact arrives.
	StepNone Step = iota
	// StepStartCapture: record the capture intent (StartCapture).
	StepStartCapture
	// StepCapture: take the money, then RecordCaptured or RecordFailed.
	StepCapture
	// StepRefund: give the capture back, then RecordRefunded.
	StepRefund
)

// Errors returned by the payment's commands.
var (
	// ErrInvalidOrder: an order with no customer, a negative amount or an
	// unknown method.
	ErrInvalidOrder = errors.New("invalid order")
	// ErrWrongStep: a command that the payment's state does not call for.
	ErrWrongStep = errors.New("not the payment's next step")
	// ErrInvalidReason: a failure reason that is not one of the Reasons.
	ErrInvalidReason = errors.New("invalid failure reason")
)

// Payment is the payment of one order. Build it with New; it is not safe
// for concurrent use (the repository serialises writers).
type Payment struct {
	orderID    string
	customerID string
	amount     int64
	currency   string
	method     Method
	placed     bool
	reserved   bool
	cancelled  bool
	status     Status
	paymentID  string
	gatewayID  string
	refunded   bool
	causes     map[string]bool
	pending    []any
}

// New returns the payment of orderID before anything is known of it.
func New(orderID string) *Payment {
	return &Payment{orderID: orderID, causes: map[string]bool{}}
}

// OrderID returns the order's id.
func (p *Payment) OrderID() string { return p.orderID }

// CustomerID returns the paying customer ("" until the order is recorded).
func (p *Payment) CustomerID() string { return p.customerID }

// AmountCents returns the amount due.
func (p *Payment) AmountCents() int64 { return p.amount }

// Currency returns the currency of the amount.
func (p *Payment) Currency() string { return p.currency }

// Method returns the payment method.
func (p *Payment) Method() Method { return p.method }

// PaymentID returns the id of the capture ("" before it started).
func (p *Payment) PaymentID() string { return p.paymentID }

// GatewayID returns the card gateway's id of the capture, if any.
func (p *Payment) GatewayID() string { return p.gatewayID }

// Status returns where the capture stands.
func (p *Payment) Status() Status { return p.status }

// Cancelled reports whether the order is known to be cancelled.
func (p *Payment) Cancelled() bool { return p.cancelled }

// Refunded reports whether the capture was refunded.
func (p *Payment) Refunded() bool { return p.refunded }

// Next returns the step the payment needs: the saga's rule in one place.
func (p *Payment) Next() Step {
	switch {
	case p.status == StatusOpen && p.placed && p.reserved && !p.cancelled:
		return StepStartCapture
	case p.status == StatusCapturing:
		return StepCapture
	case p.status == StatusCaptured && p.cancelled && !p.refunded:
		return StepRefund
	}
	return StepNone
}

// RecordOrder records the amount due when the order was placed. A repeated
// cause, or a second placement, records nothing.
func (p *Payment) RecordOrder(cause, customerID string, amountCents int64, currency string, method Method) error {
	if p.causes[cause] || p.placed {
		return nil
	}
	switch {
	case customerID == "":
		return fmt.Errorf("record order %s: %w: no customer", p.orderID, ErrInvalidOrder)
	case amountCents < 0:
		return fmt.Errorf("record order %s: %w: amount %d", p.orderID, ErrInvalidOrder, amountCents)
	case method != MethodWallet && method != MethodCard:
		return fmt.Errorf("record order %s: %w: method %q", p.orderID, ErrInvalidOrder, method)
	}
	p.record(OrderRecorded{OrderID: p.orderID, CustomerID: customerID, AmountCents: amountCents,
		Currency: currency, Method: method, Cause: cause})
	return nil
}

// NoteStockReserved records that the order's stock is reserved; a repeat
// records nothing.
func (p *Payment) NoteStockReserved(cause string) {
	if p.causes[cause] || p.reserved {
		return
	}
	p.record(StockReservedNoted{OrderID: p.orderID, Cause: cause})
}

// NoteCancelled records that the order is cancelled; a repeat records
// nothing. From then on no capture starts, and one already taken is due a
// refund.
func (p *Payment) NoteCancelled(cause string) {
	if p.causes[cause] || p.cancelled {
		return
	}
	p.record(CancellationNoted{OrderID: p.orderID, Cause: cause})
}

// StartCapture records the capture intent under paymentID. It is only
// allowed when Next is StepStartCapture.
func (p *Payment) StartCapture(paymentID string) error {
	if p.Next() != StepStartCapture || paymentID == "" {
		return fmt.Errorf("start capture of %s: %w", p.orderID, ErrWrongStep)
	}
	p.record(CaptureStarted{OrderID: p.orderID, CustomerID: p.customerID, PaymentID: paymentID,
		AmountCents: p.amount, Currency: p.currency, Method: p.method})
	return nil
}

// RecordCaptured records the capture's success; a repeat records nothing.
func (p *Payment) RecordCaptured(gatewayID string) error {
	if p.status == StatusCaptured {
		return nil
	}
	if p.status != StatusCapturing {
		return fmt.Errorf("record capture of %s: %w", p.orderID, ErrWrongStep)
	}
	p.record(PaymentCaptured{OrderID: p.orderID, CustomerID: p.customerID, PaymentID: p.paymentID,
		AmountCents: p.amount, Method: p.method, GatewayID: gatewayID})
	return nil
}

// RecordFailed records the capture's failure for reason; a repeat records
// nothing.
func (p *Payment) RecordFailed(reason Reason) error {
	switch reason {
	case ReasonInsufficientFunds, ReasonCardDeclined, ReasonGatewayUnavailable:
	default:
		return fmt.Errorf("record failure of %s: %w: %q", p.orderID, ErrInvalidReason, reason)
	}
	if p.status == StatusFailed {
		return nil
	}
	if p.status != StatusCapturing {
		return fmt.Errorf("record failure of %s: %w", p.orderID, ErrWrongStep)
	}
	p.record(PaymentFailed{OrderID: p.orderID, CustomerID: p.customerID, PaymentID: p.paymentID, Reason: reason})
	return nil
}

// RecordRefunded records that the capture was given back; only a captured
// payment of a cancelled order is refunded, and only once.
func (p *Payment) RecordRefunded() error {
	if p.refunded {
		return nil
	}
	if p.Next() != StepRefund {
		return fmt.Errorf("record refund of %s: %w", p.orderID, ErrWrongStep)
	}
	p.record(PaymentRefunded{OrderID: p.orderID, CustomerID: p.customerID, PaymentID: p.paymentID,
		AmountCents: p.amount, Method: p.method})
	return nil
}

// ApplyEvent folds a stored event into the state; it never validates.
func (p *Payment) ApplyEvent(e any) { p.apply(e) }

// PendingEvents returns the events recorded since the payment was loaded.
func (p *Payment) PendingEvents() []any { return p.pending }

// ClearPendingEvents forgets the recorded events once they are saved, so
// the payment can record the next ones.
func (p *Payment) ClearPendingEvents() { p.pending = nil }

func (p *Payment) record(e any) {
	p.apply(e)
	p.pending = append(p.pending, e)
}

func (p *Payment) apply(e any) {
	switch e := e.(type) {
	case OrderRecorded:
		p.placed = true
		p.customerID, p.amount, p.currency, p.method = e.CustomerID, e.AmountCents, e.Currency, e.Method
		p.causes[e.Cause] = true
	case StockReservedNoted:
		p.reserved = true
		p.causes[e.Cause] = true
	case CancellationNoted:
		p.cancelled = true
		p.causes[e.Cause] = true
	case CaptureStarted:
		p.status = StatusCapturing
		p.paymentID = e.PaymentID
	case PaymentCaptured:
		p.status = StatusCaptured
		p.gatewayID = e.GatewayID
	case PaymentFailed:
		p.status = StatusFailed
	case PaymentRefunded:
		p.refunded = true
	}
}
