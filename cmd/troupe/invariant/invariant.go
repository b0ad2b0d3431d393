// Package invariant checks the order saga's invariants (DESIGN.md, "The
// order saga") over a platform's history: it reads the event store, turns
// each context's stored events into the integration events its relay
// publishes (plus the catalog's private per-order holds on products), and
// reports every violation. End-to-end tests use it after a run of random
// orders, and `troupe load` runs it after its load.
package invariant

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/troupe-dev/troupe/shared/events"
)

// Record is one checked event: an events.Event (what the contexts publish)
// or a Hold (the catalog's private bookkeeping on a product stream).
type Record struct {
	Stream   string
	Revision uint64
	Event    any
}

// HoldKind names a change of one order's hold on one product.
type HoldKind string

// The catalog's per-order holds on a product stream. A void marks a product
// that an abandoned reservation never reached (nothing held, nothing will
// be).
const (
	HoldReserved  HoldKind = "reserved"
	HoldReleased  HoldKind = "released"
	HoldCommitted HoldKind = "committed"
	HoldVoided    HoldKind = "voided"
)

// Hold is a change to one order's reservation on one product, in the
// product's stream (the point where stock is serialized).
type Hold struct {
	Kind     HoldKind
	SKU      string
	OrderID  string
	Quantity int64
}

// Stock is a product's counters as the catalog's aggregate holds them.
type Stock struct {
	Received, Available, Reserved, Committed int64
}

// Violation kinds; each names one invariant of the design.
const (
	NotTerminal          = "order-not-terminal"
	BothTerminal         = "order-confirmed-and-cancelled"
	ConfirmedCaptures    = "confirmed-capture-count"
	ConfirmedRefunded    = "confirmed-refunded"
	ConfirmedNotCommited = "confirmed-stock-not-committed"
	CancelledCaptured    = "cancelled-capture-not-refunded"
	CancelledRefunds     = "cancelled-refund-count"
	CancelledNotReleased = "cancelled-stock-not-released"
	CancelledCommitted   = "cancelled-stock-committed"
	StockNegative        = "stock-available-negative"
	StockBadHold         = "stock-hold-without-reservation"
	StockMismatch        = "stock-counters-mismatch"
	WalletMismatch       = "wallet-balance-mismatch"
	WalletNegative       = "wallet-balance-negative"
	PaymentAmount        = "payment-amount-mismatch"
)

// Violation is one broken invariant.
type Violation struct {
	// Kind is one of the constants above.
	Kind string `json:"kind"`
	// Subject is the order id, SKU or customer id concerned.
	Subject string `json:"subject"`
	// Detail says what was found.
	Detail string `json:"detail"`
}

func (v Violation) String() string { return v.Kind + " " + v.Subject + ": " + v.Detail }

// Report is the outcome of Check.
type Report struct {
	Orders, Confirmed, Cancelled, SKUs, Wallets int
	Violations                                  []Violation
}

// OK reports a history without violations.
func (r Report) OK() bool { return len(r.Violations) == 0 }

// Count returns how many violations of kind the report holds.
func (r Report) Count(kind string) int {
	n := 0
	for _, v := range r.Violations {
		if v.Kind == kind {
			n++
		}
	}
	return n
}

func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d orders (%d confirmed, %d cancelled), %d SKUs, %d wallets: %d violations",
		r.Orders, r.Confirmed, r.Cancelled, r.SKUs, r.Wallets, len(r.Violations))
	kinds := map[string]int{}
	for _, v := range r.Violations {
		kinds[v.Kind]++
	}
	for _, k := range slices.Sorted(maps.Keys(kinds)) {
		fmt.Fprintf(&b, "\n  %s: %d", k, kinds[k])
	}
	for i, v := range r.Violations {
		if i == 20 {
			fmt.Fprintf(&b, "\n  ... %d more", len(r.Violations)-i)
			break
		}
		b.WriteString("\n  " + v.String())
	}
	return b.String()
}

type orderFacts struct {
	placed               *events.OrderPlaced
	confirmed, cancelled int
	captures, refunds    int
	captured, refunded   []int64 // amounts, in history order
	reserved             *events.StockReserved
	released, committed  int
}

type skuFacts struct {
	received, committed int64
	holds               map[string]int64 // order -> quantity still held
	committedBy         map[string]int64
	voided              map[string]bool
}

type walletFacts struct {
	deposits, debits, credits int64
	last                      int64
	seen                      bool
}

// Check verifies every invariant over recs (in $all order). stock, when
// not nil, holds the catalog aggregates' own counters per SKU, which must
// agree with the holds replayed here. Orders still in flight show up as
// NotTerminal: call Check once the sagas have settled.
func Check(recs []Record, stock map[string]Stock) Report {
	var rep Report
	add := func(kind, subject, format string, args ...any) {
		rep.Violations = append(rep.Violations, Violation{Kind: kind, Subject: subject, Detail: fmt.Sprintf(format, args...)})
	}
	orders := map[string]*orderFacts{}
	order := func(id string) *orderFacts {
		o := orders[id]
		if o == nil {
			o = &orderFacts{}
			orders[id] = o
		}
		return o
	}
	skus := map[string]*skuFacts{}
	sku := func(id string) *skuFacts {
		s := skus[id]
		if s == nil {
			s = &skuFacts{holds: map[string]int64{}, committedBy: map[string]int64{}, voided: map[string]bool{}}
			skus[id] = s
		}
		return s
	}
	wallets := map[string]*walletFacts{}
	wallet := func(id string) *walletFacts {
		w := wallets[id]
		if w == nil {
			w = &walletFacts{}
			wallets[id] = w
		}
		return w
	}
	checkBalance := func(id string, w *walletFacts, balance int64, what string) {
		w.seen = true
		want := w.deposits - w.debits + w.credits
		if balance != want {
			add(WalletMismatch, id, "after %s the balance is %d, deposits - debits + credits = %d", what, balance, want)
		}
		if balance < 0 {
			add(WalletNegative, id, "balance %d after %s", balance, what)
		}
		w.last = balance
	}

	for _, r := range recs {
		switch e := r.Event.(type) {
		case events.OrderPlaced:
			order(e.OrderID).placed = &e
		case events.OrderConfirmed:
			order(e.OrderID).confirmed++
		case events.OrderCancelled:
			order(e.OrderID).cancelled++
		case events.PaymentCaptured:
			o := order(e.OrderID)
			o.captures++
			o.captured = append(o.captured, e.AmountCents)
		case events.PaymentRefunded:
			o := order(e.OrderID)
			o.refunds++
			o.refunded = append(o.refunded, e.AmountCents)
		case events.StockReserved:
			order(e.OrderID).reserved = &e
		case events.StockReleased:
			order(e.OrderID).released++
		case events.StockCommitted:
			order(e.OrderID).committed++
		case events.StockReceived:
			sku(e.SKU).received += int64(e.Quantity)
		case events.FundsDeposited:
			w := wallet(e.CustomerID)
			w.deposits += e.AmountCents
			checkBalance(e.CustomerID, w, e.BalanceCents, "a deposit")
		case events.WalletDebited:
			w := wallet(e.CustomerID)
			w.debits += e.AmountCents
			checkBalance(e.CustomerID, w, e.BalanceCents, "the debit for order "+e.OrderID)
		case events.WalletCredited:
			w := wallet(e.CustomerID)
			w.credits += e.AmountCents
			checkBalance(e.CustomerID, w, e.BalanceCents, "the credit for order "+e.OrderID)
		case Hold:
			s := sku(e.SKU)
			held, ok := s.holds[e.OrderID]
			switch e.Kind {
			case HoldReserved:
				if s.voided[e.OrderID] {
					add(StockBadHold, e.SKU, "reserved for order %s after its void (%s@%d)", e.OrderID, r.Stream, r.Revision)
				}
				s.holds[e.OrderID] = held + e.Quantity
			case HoldVoided:
				// The catalog voids a product the reservation never reached,
				// so a late attempt takes nothing; a void must never drop a
				// hold (that is a release).
				if ok {
					add(StockBadHold, e.SKU, "void for order %s while it holds %d (%s@%d)", e.OrderID, held, r.Stream, r.Revision)
				}
				s.voided[e.OrderID] = true
			case HoldReleased, HoldCommitted:
				if !ok {
					add(StockBadHold, e.SKU, "%s for order %s without a hold (%s@%d)", e.Kind, e.OrderID, r.Stream, r.Revision)
					continue
				}
				delete(s.holds, e.OrderID)
				if e.Kind == HoldCommitted {
					s.committed += held
					s.committedBy[e.OrderID] += held
				}
			}
			if avail := s.received - s.committed - sum(s.holds); avail < 0 {
				add(StockNegative, e.SKU, "available %d after %s for order %s (%s@%d)", avail, e.Kind, e.OrderID, r.Stream, r.Revision)
			}
		}
	}

	ids := make([]string, 0, len(orders))
	for id, o := range orders {
		if o.placed != nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		o := orders[id]
		rep.Orders++
		// Money is conserved per order: a capture takes the order's total,
		// a refund gives back what was captured.
		for _, c := range o.captured {
			if c != o.placed.TotalCents {
				add(PaymentAmount, id, "captured %d, the order's total is %d", c, o.placed.TotalCents)
			}
		}
		for i, r := range o.refunded {
			if i < len(o.captured) && r != o.captured[i] {
				add(PaymentAmount, id, "refunded %d of a capture of %d", r, o.captured[i])
			}
		}
		switch {
		case o.confirmed > 0 && o.cancelled > 0:
			add(BothTerminal, id, "confirmed %d and cancelled %d times", o.confirmed, o.cancelled)
		case o.confirmed > 0:
			rep.Confirmed++
			if o.captures != 1 {
				add(ConfirmedCaptures, id, "%d captures, want exactly 1", o.captures)
			}
			if o.refunds != 0 {
				add(ConfirmedRefunded, id, "%d refunds, want none", o.refunds)
			}
			if o.committed == 0 {
				add(ConfirmedNotCommited, id, "no stock_committed")
			}
			for _, l := range o.placed.Lines {
				s := skus[l.SKU]
				if s == nil || s.committedBy[id] != int64(l.Quantity) {
					got := int64(0)
					if s != nil {
						got = s.committedBy[id]
					}
					add(ConfirmedNotCommited, id, "%s: %d committed on the product, want %d", l.SKU, got, l.Quantity)
				}
			}
		case o.cancelled > 0:
			rep.Cancelled++
			if o.captures > 0 && o.refunds == 0 {
				add(CancelledCaptured, id, "%d captures and no refund", o.captures)
			}
			if o.refunds > 1 || o.refunds > o.captures {
				add(CancelledRefunds, id, "%d refunds for %d captures, want exactly one per capture", o.refunds, o.captures)
			}
			if o.reserved != nil && o.released == 0 {
				add(CancelledNotReleased, id, "stock_reserved but no stock_released")
			}
			if o.committed > 0 {
				add(CancelledCommitted, id, "stock_committed for a cancelled order")
			}
			for _, l := range o.placed.Lines {
				if s := skus[l.SKU]; s != nil {
					if q, held := s.holds[id]; held {
						add(CancelledNotReleased, id, "%s: %d still held on the product", l.SKU, q)
					}
					if s.committedBy[id] != 0 {
						add(CancelledCommitted, id, "%s: %d committed on the product", l.SKU, s.committedBy[id])
					}
				}
			}
		default:
			add(NotTerminal, id, "neither confirmed nor cancelled (captures %d, refunds %d)", o.captures, o.refunds)
		}
	}

	names := make([]string, 0, len(skus))
	for n := range skus {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		s := skus[n]
		rep.SKUs++
		reserved := sum(s.holds)
		available := s.received - reserved - s.committed
		st, ok := stock[n]
		if !ok {
			continue
		}
		if st.Received != st.Available+st.Reserved+st.Committed {
			add(StockMismatch, n, "catalog holds received %d != available %d + reserved %d + committed %d",
				st.Received, st.Available, st.Reserved, st.Committed)
		}
		if st.Available < 0 {
			add(StockNegative, n, "catalog holds available %d", st.Available)
		}
		if st != (Stock{Received: s.received, Available: available, Reserved: reserved, Committed: s.committed}) {
			add(StockMismatch, n, "catalog holds %+v, the history gives received %d available %d reserved %d committed %d",
				st, s.received, available, reserved, s.committed)
		}
	}
	rep.Wallets = len(wallets)
	return rep
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}
