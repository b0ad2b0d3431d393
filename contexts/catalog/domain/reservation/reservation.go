// Package reservation is the catalog's reservation aggregate: the intent to
// hold stock for one order over several products, all lines or none, and
// what became of it (reserved, failed, committed, released). Its stream is
// where the multi-product work starts and ends: the intent is recorded here
// first, the products are written after, and the outcome here last, so an
// interrupted reservation can always be resumed from this aggregate alone.
// Pure Go: no infrastructure.
package reservation

import (
	"errors"
	"fmt"
)

// Reasons a reservation fails.
const (
	ReasonOutOfStock     = "out_of_stock"
	ReasonUnknownProduct = "unknown_product"
)

// Limits of a reservation's lines.
const (
	// MaxLines is the most distinct products one reservation spans.
	MaxLines = 100
	// MaxLineQuantity is the most units of one product one order may ask.
	MaxLineQuantity = 100_000
)

// Errors of the reservation's rules.
var (
	ErrInvalidOrderID = errors.New("order id must not be empty")
	ErrInvalidLines   = fmt.Errorf("a reservation needs 1..%d lines with a sku and a quantity of 1..%d", MaxLines, MaxLineQuantity)
	ErrInvalidReason  = errors.New("reason must be out_of_stock or unknown_product")
	// ErrUndecided: the reservation was requested but its outcome is not
	// recorded yet; drive it to an outcome first.
	ErrUndecided = errors.New("reservation not decided yet")
)

// Status is where a reservation stands.
type Status int

// The statuses, in the order a reservation may pass through them.
const (
	// StatusNone: nothing happened for this order yet.
	StatusNone Status = iota
	// StatusVoided: the order was cancelled before any reservation was
	// requested; none will ever be made. Final.
	StatusVoided
	// StatusRequested: the intent is recorded; products are being reserved.
	StatusRequested
	// StatusReserved: every line is held.
	StatusReserved
	// StatusFailed: some line could not be held; lines already held are
	// being (or have been, see Undone) given back. Final.
	StatusFailed
	// StatusCommitting: the order was confirmed; products are being committed.
	StatusCommitting
	// StatusCommitted: every line is committed. Final.
	StatusCommitted
	// StatusReleasing: the order was cancelled; products are being released.
	StatusReleasing
	// StatusReleased: every line is released. Final.
	StatusReleased
)

var statusNames = [...]string{"none", "voided", "requested", "reserved", "failed", "committing", "committed", "releasing", "released"}

// String names the status.
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("status(%d)", int(s))
}

// Line is a quantity of one product.
type Line struct {
	SKU      string
	Quantity int64
}

// Reservation is the aggregate. Build it with New (or fold its history into
// one). Not safe for concurrent use; the repository serialises writers by
// expected revision.
type Reservation struct {
	orderID string
	status  Status
	lines   []Line
	reason  string
	sku     string
	undone  bool
	causes  map[string]bool // source events this reservation acted on

	pending []any
}

// New returns an empty reservation for orderID.
func New(orderID string) *Reservation {
	return &Reservation{orderID: orderID, causes: map[string]bool{}}
}

// OrderID returns the order the reservation is for.
func (r *Reservation) OrderID() string { return r.orderID }

// Status returns where the reservation stands.
func (r *Reservation) Status() Status { return r.status }

// Lines returns a copy of the reservation's lines, one per product.
func (r *Reservation) Lines() []Line { return append([]Line(nil), r.lines...) }

// Failure returns the reason and sku of a failed reservation.
func (r *Reservation) Failure() (reason, sku string) { return r.reason, r.sku }

// Undone reports whether a failed reservation has given back every line.
func (r *Reservation) Undone() bool { return r.undone }

// Done reports whether nothing is left to do on the products for this
// reservation until the next command.
func (r *Reservation) Done() bool {
	switch r.status {
	case StatusRequested, StatusCommitting, StatusReleasing:
		return false
	case StatusFailed:
		return r.undone
	}
	return true
}

// ActedOn reports whether the reservation already acted on source event
// cause.
func (r *Reservation) ActedOn(cause string) bool { return r.causes[cause] }

// Request records the intent to reserve lines for the order, because of the
// source event cause. Lines of one sku are merged, in first-seen order. A
// repeat of cause, or a request for an order already requested or
// cancelled, records nothing: the first intent stands.
func (r *Reservation) Request(lines []Line, cause string) error {
	if r.orderID == "" {
		return ErrInvalidOrderID
	}
	merged, err := mergeLines(lines)
	if err != nil {
		return err
	}
	if r.seen(cause) || r.status != StatusNone {
		return nil
	}
	r.record(Requested{OrderID: r.orderID, Lines: merged, Cause: cause})
	return nil
}

// MarkReserved records that every line is held. Only a requested
// reservation can be reserved; in any other status it records nothing (the
// outcome was decided already).
func (r *Reservation) MarkReserved() {
	if r.status != StatusRequested {
		return
	}
	r.record(Reserved{OrderID: r.orderID, Lines: r.Lines()})
}

// MarkFailed records that line sku could not be held for reason; the lines
// already held must then be given back (see MarkUndone). Only a requested
// reservation can fail; in any other status it records nothing.
func (r *Reservation) MarkFailed(reason, sku string) error {
	if reason != ReasonOutOfStock && reason != ReasonUnknownProduct {
		return ErrInvalidReason
	}
	if r.status != StatusRequested {
		return nil
	}
	r.record(Failed{OrderID: r.orderID, Reason: reason, SKU: sku, Lines: r.Lines()})
	return nil
}

// MarkUndone records that a failed reservation gave back every line. In
// any other situation it records nothing.
func (r *Reservation) MarkUndone() {
	if r.status != StatusFailed || r.undone {
		return
	}
	r.record(Undone{OrderID: r.orderID})
}

// Confirm records, because the order was confirmed (source event cause),
// the intent to commit every reserved line. A requested reservation fails
// with ErrUndecided (decide it first). Anything but a reserved reservation
// (never requested, failed, cancelled, already committing or committed)
// records nothing: there is nothing to commit.
func (r *Reservation) Confirm(cause string) error {
	if r.status == StatusRequested {
		return ErrUndecided
	}
	if r.seen(cause) || r.status != StatusReserved {
		return nil
	}
	r.record(CommitStarted{OrderID: r.orderID, Cause: cause})
	return nil
}

// MarkCommitted records that every line is committed; only while
// committing, otherwise it records nothing.
func (r *Reservation) MarkCommitted() {
	if r.status != StatusCommitting {
		return
	}
	r.record(Committed{OrderID: r.orderID, Lines: r.Lines()})
}

// Cancel records that the order was cancelled (source event cause). A
// reservation never requested is voided, so a later request records
// nothing; a reserved one starts releasing its lines. A requested
// reservation fails with ErrUndecided (decide it first). Otherwise (failed,
// committed, already releasing or released, voided) it records nothing.
func (r *Reservation) Cancel(cause string) error {
	if r.status == StatusRequested {
		return ErrUndecided
	}
	if r.seen(cause) {
		return nil
	}
	switch r.status {
	case StatusNone:
		r.record(Voided{OrderID: r.orderID, Cause: cause})
	case StatusReserved:
		r.record(ReleaseStarted{OrderID: r.orderID, Cause: cause})
	}
	return nil
}

// MarkReleased records that every line is released; only while releasing,
// otherwise it records nothing.
func (r *Reservation) MarkReleased() {
	if r.status != StatusReleasing {
		return
	}
	r.record(Released{OrderID: r.orderID, Lines: r.Lines()})
}

func (r *Reservation) seen(cause string) bool { return cause != "" && r.causes[cause] }

func mergeLines(lines []Line) ([]Line, error) {
	if len(lines) == 0 {
		return nil, ErrInvalidLines
	}
	var out []Line
	index := map[string]int{}
	for _, l := range lines {
		if l.SKU == "" || l.Quantity < 1 || l.Quantity > MaxLineQuantity {
			return nil, ErrInvalidLines
		}
		if i, ok := index[l.SKU]; ok {
			out[i].Quantity += l.Quantity
			if out[i].Quantity > MaxLineQuantity {
				return nil, ErrInvalidLines
			}
			continue
		}
		index[l.SKU] = len(out)
		out = append(out, l)
	}
	if len(out) > MaxLines {
		return nil, ErrInvalidLines
	}
	return out, nil
}
