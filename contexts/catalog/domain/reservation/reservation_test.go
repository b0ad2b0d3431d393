package reservation

import (
	"errors"
	"reflect"
	"testing"
)

const order = "order-1"

func given(events ...any) *Reservation {
	r := New(order)
	for _, e := range events {
		r.ApplyEvent(e)
	}
	return r
}

func then(t *testing.T, r *Reservation, err, wantErr error, want ...any) {
	t.Helper()
	if !errors.Is(err, wantErr) {
		t.Fatalf("error = %v, want %v", err, wantErr)
	}
	got := r.PendingEvents()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("events = %#v\nwant %#v", got, want)
	}
}

var (
	lines     = []Line{{SKU: "A-1", Quantity: 2}, {SKU: "B-1", Quantity: 1}}
	requested = Requested{OrderID: order, Lines: lines, Cause: "placed"}
	reserved  = Reserved{OrderID: order, Lines: lines}
	failed    = Failed{OrderID: order, Reason: ReasonOutOfStock, SKU: "B-1", Lines: lines}
)

func TestRequest(t *testing.T) {
	t.Parallel()
	r := given()
	then(t, r, r.Request(lines, "placed"), nil, requested)
	if r.Status() != StatusRequested || r.Done() {
		t.Fatalf("status %v done %v", r.Status(), r.Done())
	}

	// The same sku twice is one line.
	r = given()
	err := r.Request([]Line{{SKU: "A-1", Quantity: 1}, {SKU: "B-1", Quantity: 1}, {SKU: "A-1", Quantity: 1}}, "placed")
	then(t, r, err, nil, requested)

	// A repeat, or any later request, records nothing.
	r = given(requested)
	then(t, r, r.Request(lines, "placed"), nil)
	r = given(requested)
	then(t, r, r.Request(lines, "placed-again"), nil)

	// Cancelled before it was requested: never reserved.
	r = given(Voided{OrderID: order, Cause: "cancelled"})
	then(t, r, r.Request(lines, "placed"), nil)

	for _, bad := range [][]Line{
		nil,
		{{SKU: "", Quantity: 1}},
		{{SKU: "A-1", Quantity: 0}},
		{{SKU: "A-1", Quantity: MaxLineQuantity}, {SKU: "A-1", Quantity: 1}},
	} {
		r = given()
		then(t, r, r.Request(bad, "placed"), ErrInvalidLines)
	}
	many := make([]Line, MaxLines+1)
	for i := range many {
		many[i] = Line{SKU: "S-" + string(rune('A'+i%26)) + string(rune('A'+i/26)), Quantity: 1}
	}
	r = given()
	then(t, r, r.Request(many, "placed"), ErrInvalidLines)
}

func TestDecide(t *testing.T) {
	t.Parallel()
	r := given(requested)
	r.MarkReserved()
	then(t, r, nil, nil, reserved)
	if !r.Done() {
		t.Fatal("reserved should be done")
	}

	r = given(requested)
	then(t, r, r.MarkFailed(ReasonOutOfStock, "B-1"), nil, failed)
	if r.Done() {
		t.Fatal("a failed reservation is not done until undone")
	}
	r = given(requested)
	then(t, r, r.MarkFailed("broken", "B-1"), ErrInvalidReason)

	// The first outcome stands.
	r = given(requested, failed)
	r.MarkReserved()
	then(t, r, nil, nil)
	r = given(requested, reserved)
	then(t, r, r.MarkFailed(ReasonUnknownProduct, "A-1"), nil)
	r = given()
	r.MarkReserved()
	then(t, r, nil, nil)

	r = given(requested, failed)
	r.MarkUndone()
	then(t, r, nil, nil, Undone{OrderID: order})
	if !r.Done() {
		t.Fatal("undone should be done")
	}
	r = given(requested, failed, Undone{OrderID: order})
	r.MarkUndone()
	then(t, r, nil, nil)
}

func TestConfirm(t *testing.T) {
	t.Parallel()
	started := CommitStarted{OrderID: order, Cause: "confirmed"}
	r := given(requested, reserved)
	then(t, r, r.Confirm("confirmed"), nil, started)
	if r.Done() {
		t.Fatal("committing is not done")
	}
	r = given(requested, reserved, started)
	then(t, r, r.Confirm("confirmed"), nil)
	r = given(requested)
	then(t, r, r.Confirm("confirmed"), ErrUndecided)
	for _, h := range [][]any{nil, {requested, failed}, {Voided{OrderID: order}}} {
		r = given(h...)
		then(t, r, r.Confirm("confirmed"), nil)
	}

	r = given(requested, reserved, started)
	r.MarkCommitted()
	then(t, r, nil, nil, Committed{OrderID: order, Lines: lines})
	r = given(requested, reserved)
	r.MarkCommitted()
	then(t, r, nil, nil)
}

func TestCancel(t *testing.T) {
	t.Parallel()
	started := ReleaseStarted{OrderID: order, Cause: "cancelled"}
	r := given(requested, reserved)
	then(t, r, r.Cancel("cancelled"), nil, started)
	r = given(requested, reserved, started)
	then(t, r, r.Cancel("cancelled"), nil)
	r = given(requested, reserved, started)
	then(t, r, r.Cancel("cancelled-again"), nil)

	// Before the order was placed: voided, remembered.
	r = given()
	then(t, r, r.Cancel("cancelled"), nil, Voided{OrderID: order, Cause: "cancelled"})
	if r.Status() != StatusVoided || !r.ActedOn("cancelled") {
		t.Fatalf("status %v", r.Status())
	}

	r = given(requested)
	then(t, r, r.Cancel("cancelled"), ErrUndecided)
	// Failed or committed: nothing to release.
	for _, h := range [][]any{{requested, failed}, {requested, reserved, CommitStarted{OrderID: order}, Committed{OrderID: order, Lines: lines}}} {
		r = given(h...)
		then(t, r, r.Cancel("cancelled"), nil)
	}

	r = given(requested, reserved, started)
	r.MarkReleased()
	then(t, r, nil, nil, Released{OrderID: order, Lines: lines})
	r = given(requested, reserved)
	r.MarkReleased()
	then(t, r, nil, nil)
}
