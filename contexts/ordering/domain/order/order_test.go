package order

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

var (
	t0       = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	deadline = t0.Add(time.Minute)
)

func line(t *testing.T, sku string, qty int, price int64) Line {
	t.Helper()
	l, err := NewLine(sku, qty, price)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func placement(t *testing.T) Placement {
	return Placement{
		CustomerID: "c-1", Currency: "EUR", PaymentMethod: PaymentWallet, PlacedAt: t0, Deadline: deadline,
		Lines: []Line{line(t, "SKU-1", 2, 150), line(t, "SKU-2", 1, 1000)},
	}
}

func placed(t *testing.T) Placed {
	return Placed{
		OrderID: "o-1", CustomerID: "c-1", TotalCents: 1300, Currency: "EUR", PaymentMethod: "wallet",
		PlacedAt: t0, Deadline: deadline,
		Lines: []PlacedLine{{SKU: "SKU-1", Quantity: 2, UnitPriceCents: 150}, {SKU: "SKU-2", Quantity: 1, UnitPriceCents: 1000}},
	}
}

// scenario is given events, when a command, then events or an error.
type scenario struct {
	name  string
	given func(t *testing.T) []any
	when  func(t *testing.T, o *Order) error
	then  []any
	err   error
}

func run(t *testing.T, scenarios []scenario) {
	t.Helper()
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			o := New("o-1")
			if sc.given != nil {
				for _, e := range sc.given(t) {
					o.ApplyEvent(e)
				}
			}
			err := sc.when(t, o)
			if !errors.Is(err, sc.err) || (sc.err == nil && err != nil) {
				t.Fatalf("error %v, want %v", err, sc.err)
			}
			if got := o.PendingEvents(); !reflect.DeepEqual(got, sc.then) {
				t.Fatalf("events\n got %#v\nwant %#v", got, sc.then)
			}
		})
	}
}

func given(evs ...any) func(*testing.T) []any {
	return func(*testing.T) []any { return evs }
}

func TestPlace(t *testing.T) {
	t.Parallel()
	withHash := func(t *testing.T) Placement { p := placement(t); p.RequestHash = "h1"; return p }
	placedWithHash := placed(t)
	placedWithHash.RequestHash = "h1"
	run(t, []scenario{
		{name: "prices and totals the lines", when: func(t *testing.T, o *Order) error { return o.Place(placement(t)) },
			then: []any{placed(t)}},
		{name: "twice is refused", given: given(placed(t)),
			when: func(t *testing.T, o *Order) error { return o.Place(placement(t)) }, err: ErrAlreadyPlaced},
		{name: "same request hash is a no-op", given: given(placedWithHash),
			when: func(t *testing.T, o *Order) error { return o.Place(withHash(t)) }},
		{name: "another request hash is a mismatch", given: given(placedWithHash),
			when: func(t *testing.T, o *Order) error {
				p := withHash(t)
				p.RequestHash = "h2"
				return o.Place(p)
			}, err: ErrIdempotencyMismatch},
		{name: "no lines", when: func(t *testing.T, o *Order) error {
			p := placement(t)
			p.Lines = nil
			return o.Place(p)
		}, err: ErrInvalidOrder},
		{name: "too many lines", when: func(t *testing.T, o *Order) error {
			p := placement(t)
			for len(p.Lines) <= MaxLines {
				p.Lines = append(p.Lines, line(t, "SKU-1", 1, 1))
			}
			return o.Place(p)
		}, err: ErrInvalidOrder},
		{name: "unknown payment method", when: func(t *testing.T, o *Order) error {
			p := placement(t)
			p.PaymentMethod = "cash"
			return o.Place(p)
		}, err: ErrInvalidOrder},
		{name: "deadline before placement", when: func(t *testing.T, o *Order) error {
			p := placement(t)
			p.Deadline = t0
			return o.Place(p)
		}, err: ErrInvalidOrder},
		{name: "zero-value line", when: func(t *testing.T, o *Order) error {
			p := placement(t)
			p.Lines = append(p.Lines, Line{})
			return o.Place(p)
		}, err: ErrInvalidLine},
	})
}

func TestNewLine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		sku   string
		qty   int
		price int64
		ok    bool
	}{
		{"SKU-1", 1, 0, true}, {"SKU-1", 1000, 5, true}, {"SKU-1", 0, 5, false}, {"SKU-1", 1001, 5, false},
		{"sku-1", 1, 5, false}, {"AB", 1, 5, false}, {"SKU-1", 1, -1, false},
	} {
		_, err := NewLine(tc.sku, tc.qty, tc.price)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrInvalidLine)) {
			t.Errorf("NewLine(%q, %d, %d) = %v, want ok %v", tc.sku, tc.qty, tc.price, err, tc.ok)
		}
	}
}

func TestSaga(t *testing.T) {
	t.Parallel()
	cancelled := func(reason Reason, cause string) Cancelled {
		return Cancelled{CustomerID: "c-1", Reason: string(reason), CausationID: cause}
	}
	confirmed := Confirmed{CustomerID: "c-1", TotalCents: 1300, CausationID: "cap"}
	run(t, []scenario{
		{name: "reserved", given: given(placed(t)),
			when: func(_ *testing.T, o *Order) error { return o.MarkReserved("res") },
			then: []any{Reserved{CausationID: "res"}}},
		{name: "reserved twice acts once", given: given(placed(t), Reserved{CausationID: "res"}),
			when: func(_ *testing.T, o *Order) error { return o.MarkReserved("res") }},
		{name: "reserved after cancel is ignored", given: given(placed(t), cancelled(ReasonTimeout, "x")),
			when: func(_ *testing.T, o *Order) error { return o.MarkReserved("res") }},
		{name: "reserved before placed", when: func(_ *testing.T, o *Order) error { return o.MarkReserved("res") },
			err: ErrNotPlaced},
		{name: "confirm from reserved", given: given(placed(t), Reserved{CausationID: "res"}),
			when: func(_ *testing.T, o *Order) error { return o.Confirm("cap") }, then: []any{confirmed}},
		{name: "confirm from pending (capture seen first)", given: given(placed(t)),
			when: func(_ *testing.T, o *Order) error { return o.Confirm("cap") }, then: []any{confirmed}},
		{name: "confirm twice acts once", given: given(placed(t), confirmed),
			when: func(_ *testing.T, o *Order) error { return o.Confirm("cap") }},
		{name: "confirm after cancel is ignored", given: given(placed(t), cancelled(ReasonPaymentFailed, "pf")),
			when: func(_ *testing.T, o *Order) error { return o.Confirm("cap") }},
		{name: "confirm before placed", when: func(_ *testing.T, o *Order) error { return o.Confirm("cap") },
			err: ErrNotPlaced},
		{name: "cancel out of stock", given: given(placed(t)),
			when: func(_ *testing.T, o *Order) error { return o.Cancel(ReasonOutOfStock, "rf") },
			then: []any{cancelled(ReasonOutOfStock, "rf")}},
		{name: "cancel payment failed from reserved", given: given(placed(t), Reserved{CausationID: "res"}),
			when: func(_ *testing.T, o *Order) error { return o.Cancel(ReasonPaymentFailed, "pf") },
			then: []any{cancelled(ReasonPaymentFailed, "pf")}},
		{name: "cancel twice keeps the first reason", given: given(placed(t), cancelled(ReasonOutOfStock, "rf")),
			when: func(_ *testing.T, o *Order) error { return o.Cancel(ReasonPaymentFailed, "pf") }},
		{name: "cancel after confirm", given: given(placed(t), confirmed),
			when: func(_ *testing.T, o *Order) error { return o.Cancel(ReasonPaymentFailed, "pf") },
			err:  ErrAlreadyConfirmed},
		{name: "cancel with an unknown reason", given: given(placed(t)),
			when: func(_ *testing.T, o *Order) error { return o.Cancel("bored", "x") }, err: ErrInvalidOrder},
	})
}

func TestCustomerCancel(t *testing.T) {
	t.Parallel()
	run(t, []scenario{
		{name: "owner cancels a pending order", given: given(placed(t)),
			when: func(_ *testing.T, o *Order) error { return o.CancelByCustomer("c-1", "req") },
			then: []any{Cancelled{CustomerID: "c-1", Reason: "customer_requested", CausationID: "req"}}},
		{name: "owner cancels a reserved order", given: given(placed(t), Reserved{CausationID: "res"}),
			when: func(_ *testing.T, o *Order) error { return o.CancelByCustomer("c-1", "req") },
			then: []any{Cancelled{CustomerID: "c-1", Reason: "customer_requested", CausationID: "req"}}},
		{name: "another customer", given: given(placed(t)),
			when: func(_ *testing.T, o *Order) error { return o.CancelByCustomer("c-2", "req") }, err: ErrNotOwner},
		{name: "already cancelled is a no-op", given: given(placed(t), Cancelled{CustomerID: "c-1", Reason: "timeout"}),
			when: func(_ *testing.T, o *Order) error { return o.CancelByCustomer("c-1", "req") }},
		{name: "confirmed", given: given(placed(t), Confirmed{CustomerID: "c-1", TotalCents: 1300, CausationID: "cap"}),
			when: func(_ *testing.T, o *Order) error { return o.CancelByCustomer("c-1", "req") }, err: ErrAlreadyConfirmed},
		{name: "unknown order", when: func(_ *testing.T, o *Order) error { return o.CancelByCustomer("c-1", "req") },
			err: ErrNotPlaced},
	})
}

func TestExpire(t *testing.T) {
	t.Parallel()
	run(t, []scenario{
		{name: "at the deadline", given: given(placed(t)),
			when: func(_ *testing.T, o *Order) error { return o.Expire(deadline, "to") },
			then: []any{Cancelled{CustomerID: "c-1", Reason: "timeout", CausationID: "to"}}},
		{name: "before the deadline", given: given(placed(t)),
			when: func(_ *testing.T, o *Order) error { return o.Expire(deadline.Add(-time.Nanosecond), "to") },
			err:  ErrDeadlineNotReached},
		{name: "confirmed in time", given: given(placed(t), Confirmed{CustomerID: "c-1", CausationID: "cap"}),
			when: func(_ *testing.T, o *Order) error { return o.Expire(deadline.Add(time.Hour), "to") }},
		{name: "already cancelled", given: given(placed(t), Cancelled{CustomerID: "c-1", Reason: "out_of_stock"}),
			when: func(_ *testing.T, o *Order) error { return o.Expire(deadline.Add(time.Hour), "to") }},
	})
}

func TestStateFolds(t *testing.T) {
	t.Parallel()
	o := New("o-1")
	o.ApplyEvent(placed(t))
	if o.Status() != StatusPending || o.TotalCents() != 1300 || len(o.Lines()) != 2 || o.CustomerID() != "c-1" ||
		!o.Deadline().Equal(deadline) || o.PaymentMethod() != PaymentWallet {
		t.Fatalf("after Placed: %+v", o)
	}
	o.ApplyEvent(Reserved{CausationID: "res"})
	if o.Status() != StatusReserved || !o.HasActedOn("res") {
		t.Fatalf("after Reserved: %s", o.Status())
	}
	o.ApplyEvent(Cancelled{Reason: "timeout", CausationID: "to"})
	if o.Status() != StatusCancelled || o.Reason() != ReasonTimeout || !o.Final() {
		t.Fatalf("after Cancelled: %s %s", o.Status(), o.Reason())
	}
	if len(o.PendingEvents()) != 0 {
		t.Fatal("folding recorded events")
	}
}
