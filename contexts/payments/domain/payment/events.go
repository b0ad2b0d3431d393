package payment

// Event type names of the payment's domain events. The relay publishes
// PaymentCaptured, PaymentFailed and PaymentRefunded; the others are private.
const (
	TypeOrderRecorded      = "payments.payment.order_recorded"
	TypeStockReservedNoted = "payments.payment.stock_reserved_noted"
	TypeCancellationNoted  = "payments.payment.cancellation_noted"
	TypeCaptureStarted     = "payments.payment.capture_started"
	TypePaymentCaptured    = "payments.payment.captured"
	TypePaymentFailed      = "payments.payment.failed"
	TypePaymentRefunded    = "payments.payment.refunded"
)

// OrderRecorded: the order was placed and AmountCents is due, by Method.
// Cause is the id of the event that told us.
type OrderRecorded struct {
	OrderID     string
	CustomerID  string
	AmountCents int64
	Currency    string
	Method      Method
	Cause       string
}

// StockReservedNoted: the order's stock is reserved.
type StockReservedNoted struct {
	OrderID string
	Cause   string
}

// CancellationNoted: the order is cancelled.
type CancellationNoted struct {
	OrderID string
	Cause   string
}

// CaptureStarted is the capture intent: from here the payment is taken
// (wallet debit or card charge under PaymentID) and its outcome recorded,
// resuming after a crash.
type CaptureStarted struct {
	OrderID     string
	CustomerID  string
	PaymentID   string
	AmountCents int64
	Currency    string
	Method      Method
}

// PaymentCaptured: the money was taken. GatewayID is the card gateway's
// payment id (empty for a wallet).
type PaymentCaptured struct {
	OrderID     string
	CustomerID  string
	PaymentID   string
	AmountCents int64
	Method      Method
	GatewayID   string
}

// PaymentFailed: the money could not be taken, for Reason.
type PaymentFailed struct {
	OrderID    string
	CustomerID string
	PaymentID  string
	Reason     Reason
}

// PaymentRefunded: a capture was given back after the order's cancellation.
type PaymentRefunded struct {
	OrderID     string
	CustomerID  string
	PaymentID   string
	AmountCents int64
	Method      Method
}
