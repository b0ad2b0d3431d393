package payment

import (
	"errors"
	"reflect"
	"testing"
)

func given(history ...any) *Payment {
	p := New("o1")
	for _, e := range history {
		p.ApplyEvent(e)
	}
	return p
}

func thenEvents(t *testing.T, p *Payment, want ...any) {
	t.Helper()
	got := p.PendingEvents()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("events = %#v\nwant %#v", got, want)
	}
}

var (
	placed    = OrderRecorded{OrderID: "o1", CustomerID: "c1", AmountCents: 300, Currency: "EUR", Method: MethodWallet, Cause: "e-placed"}
	reserved  = StockReservedNoted{OrderID: "o1", Cause: "e-reserved"}
	cancelled = CancellationNoted{OrderID: "o1", Cause: "e-cancelled"}
	started   = CaptureStarted{OrderID: "o1", CustomerID: "c1", PaymentID: "p1", AmountCents: 300, Currency: "EUR", Method: MethodWallet}
	captured  = PaymentCaptured{OrderID: "o1", CustomerID: "c1", PaymentID: "p1", AmountCents: 300, Method: MethodWallet}
)

func TestCapturesOnlyWhenPlacedAndReservedInEitherOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		history []any
		want    Step
	}{
		{"nothing known", nil, StepNone},
		{"only placed", []any{placed}, StepNone},
		{"only reserved", []any{reserved}, StepNone},
		{"placed then reserved", []any{placed, reserved}, StepStartCapture},
		{"reserved then placed", []any{reserved, placed}, StepStartCapture},
		{"cancelled before", []any{cancelled, reserved, placed}, StepNone},
		{"cancelled after both", []any{placed, reserved, cancelled}, StepNone},
		{"capture started", []any{placed, reserved, started}, StepCapture},
		{"capture started, then cancelled: finish it", []any{placed, reserved, started, cancelled}, StepCapture},
		{"captured", []any{placed, reserved, started, captured}, StepNone},
		{"captured then cancelled: refund", []any{placed, reserved, started, captured, cancelled}, StepRefund},
		{"refunded", []any{placed, reserved, started, captured, cancelled, PaymentRefunded{}}, StepNone},
		{"failed then cancelled", []any{placed, reserved, started, PaymentFailed{}, cancelled}, StepNone},
	}
	for _, tt := range tests {
		if got := given(tt.history...).Next(); got != tt.want {
			t.Errorf("%s: Next = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestRecordOrder(t *testing.T) {
	t.Parallel()
	p := given()
	if err := p.RecordOrder("e-placed", "c1", 300, "EUR", MethodWallet); err != nil {
		t.Fatal(err)
	}
	thenEvents(t, p, placed)

	t.Run("a repeated cause or a second placement records nothing", func(t *testing.T) {
		p := given(placed)
		_ = p.RecordOrder("e-placed", "c1", 300, "EUR", MethodWallet)
		_ = p.RecordOrder("e-other", "c1", 999, "EUR", MethodCard)
		thenEvents(t, p)
		if p.AmountCents() != 300 {
			t.Fatalf("amount = %d", p.AmountCents())
		}
	})
	t.Run("invalid orders", func(t *testing.T) {
		for _, tc := range []struct {
			customer string
			amount   int64
			method   Method
		}{{"", 1, MethodCard}, {"c1", -1, MethodCard}, {"c1", 1, "cash"}} {
			p := given()
			if err := p.RecordOrder("e", tc.customer, tc.amount, "EUR", tc.method); !errors.Is(err, ErrInvalidOrder) {
				t.Errorf("%+v: err = %v", tc, err)
			}
			thenEvents(t, p)
		}
	})
}

func TestNotesAreIdempotent(t *testing.T) {
	t.Parallel()
	p := given(reserved, cancelled)
	p.NoteStockReserved("e-reserved")
	p.NoteStockReserved("e-reserved-again")
	p.NoteCancelled("e-cancelled")
	p.NoteCancelled("e-cancelled-2")
	thenEvents(t, p)

	p = given()
	p.NoteStockReserved("e-reserved")
	p.NoteCancelled("e-cancelled")
	thenEvents(t, p, reserved, cancelled)
}

func TestStartCapture(t *testing.T) {
	t.Parallel()
	p := given(reserved, placed)
	if err := p.StartCapture("p1"); err != nil {
		t.Fatal(err)
	}
	thenEvents(t, p, started)
	if p.Status() != StatusCapturing || p.PaymentID() != "p1" {
		t.Fatalf("status %v, id %q", p.Status(), p.PaymentID())
	}
	for name, h := range map[string][]any{
		"not reserved":      {placed},
		"cancelled":         {placed, reserved, cancelled},
		"already capturing": {placed, reserved, started},
	} {
		p := given(h...)
		if err := p.StartCapture("p2"); !errors.Is(err, ErrWrongStep) {
			t.Errorf("%s: err = %v", name, err)
		}
		thenEvents(t, p)
	}
}

func TestCaptureOutcome(t *testing.T) {
	t.Parallel()
	p := given(placed, reserved, started)
	if err := p.RecordCaptured("gw-1"); err != nil {
		t.Fatal(err)
	}
	want := captured
	want.GatewayID = "gw-1"
	thenEvents(t, p, want)
	if err := p.RecordCaptured("gw-1"); err != nil {
		t.Fatal(err)
	}
	if len(p.PendingEvents()) != 1 {
		t.Fatal("a second capture was recorded")
	}

	p = given(placed, reserved, started)
	if err := p.RecordFailed(ReasonInsufficientFunds); err != nil {
		t.Fatal(err)
	}
	thenEvents(t, p, PaymentFailed{OrderID: "o1", CustomerID: "c1", PaymentID: "p1", Reason: ReasonInsufficientFunds})
	if err := p.RecordFailed("bogus"); !errors.Is(err, ErrInvalidReason) {
		t.Fatalf("bogus reason: err = %v", err)
	}

	p = given(placed, reserved)
	if err := p.RecordCaptured(""); !errors.Is(err, ErrWrongStep) {
		t.Fatalf("capture without intent: err = %v", err)
	}
	if err := p.RecordFailed(ReasonCardDeclined); !errors.Is(err, ErrWrongStep) {
		t.Fatalf("failure without intent: err = %v", err)
	}
}

func TestRefundOnlyOnceAndOnlyAfterCaptureAndCancel(t *testing.T) {
	t.Parallel()
	p := given(placed, reserved, started, captured, cancelled)
	if err := p.RecordRefunded(); err != nil {
		t.Fatal(err)
	}
	thenEvents(t, p, PaymentRefunded{OrderID: "o1", CustomerID: "c1", PaymentID: "p1", AmountCents: 300, Method: MethodWallet})
	if err := p.RecordRefunded(); err != nil || len(p.PendingEvents()) != 1 {
		t.Fatalf("second refund: err %v, %d events", err, len(p.PendingEvents()))
	}
	p = given(placed, reserved, started, captured)
	if err := p.RecordRefunded(); !errors.Is(err, ErrWrongStep) {
		t.Fatalf("refund of a live order: err = %v", err)
	}
}
