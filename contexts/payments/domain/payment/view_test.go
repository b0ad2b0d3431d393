package payment

import "testing"

func TestView(t *testing.T) {
	t.Parallel()
	p := given(placed, reserved, started, captured, cancelled)
	want := View{
		OrderID: "o1", CustomerID: "c1", AmountCents: 300, Currency: "EUR", Method: MethodWallet,
		OrderRecorded: true, StockReserved: true, Cancelled: true,
		Status: StatusCaptured, PaymentID: "p1", Refunded: false, Next: StepRefund,
	}
	if got := p.View(); got != want {
		t.Fatalf("view = %+v\nwant %+v", got, want)
	}
	if got := given(reserved).View(); got.OrderRecorded || !got.StockReserved || got.Status != StatusOpen || got.Next != StepNone {
		t.Fatalf("view after the reservation alone = %+v", got)
	}
}

func TestStatusAndStepNames(t *testing.T) {
	t.Parallel()
	for s, want := range map[Status]string{StatusOpen: "open", StatusCapturing: "capturing", StatusCaptured: "captured", StatusFailed: "failed", Status(9): "status(9)"} {
		if got := s.String(); got != want {
			t.Errorf("Status(%d) = %q, want %q", int(s), got, want)
		}
	}
	for s, want := range map[Step]string{StepNone: "none", StepStartCapture: "start_capture", StepCapture: "capture", StepRefund: "refund", Step(-1): "step(-1)"} {
		if got := s.String(); got != want {
			t.Errorf("Step(%d) = %q, want %q", int(s), got, want)
		}
	}
}
