package payment

import "strconv"

// View is a copy of a payment's whole state, for tools that show an
// aggregate as it was (`troupe replay stream --state`).
type View struct {
	OrderID     string
	CustomerID  string
	AmountCents int64
	Currency    string
	Method      Method
	// OrderRecorded: the amount due is known (the order was placed).
	OrderRecorded bool
	// StockReserved: catalog reserved the order's stock.
	StockReserved bool
	// Cancelled: the order is known to be cancelled.
	Cancelled bool
	Status    Status
	PaymentID string
	GatewayID string
	Refunded  bool
	// Next is the step the payment needs next.
	Next Step
}

// View returns the payment's state.
func (p *Payment) View() View {
	return View{
		OrderID: p.orderID, CustomerID: p.customerID, AmountCents: p.amount, Currency: p.currency, Method: p.method,
		OrderRecorded: p.placed, StockReserved: p.reserved, Cancelled: p.cancelled,
		Status: p.status, PaymentID: p.paymentID, GatewayID: p.gatewayID, Refunded: p.refunded,
		Next: p.Next(),
	}
}

var statusNames = [...]string{StatusOpen: "open", StatusCapturing: "capturing", StatusCaptured: "captured", StatusFailed: "failed"}

// String names the status ("open", "capturing", "captured", "failed").
func (s Status) String() string {
	if s >= 0 && int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "status(" + strconv.Itoa(int(s)) + ")"
}

var stepNames = [...]string{StepNone: "none", StepStartCapture: "start_capture", StepCapture: "capture", StepRefund: "refund"}

// String names the step ("none", "start_capture", "capture", "refund").
func (s Step) String() string {
	if s >= 0 && int(s) < len(stepNames) {
		return stepNames[s]
	}
	return "step(" + strconv.Itoa(int(s)) + ")"
}
