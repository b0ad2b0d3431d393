package events

// Payments' integration event types and their enumerations.
const (
	TypeFundsDeposited  = "payments.funds_deposited.v1"
	TypeWalletDebited   = "payments.wallet_debited.v1"
	TypeWalletCredited  = "payments.wallet_credited.v1"
	TypePaymentCaptured = "payments.payment_captured.v1"
	TypePaymentFailed   = "payments.payment_failed.v1"
	TypePaymentRefunded = "payments.payment_refunded.v1"

	ReasonInsufficientFunds  = "insufficient_funds"
	ReasonCardDeclined       = "card_declined"
	ReasonGatewayUnavailable = "gateway_unavailable"
)

// FundsDeposited: money was added to a customer's wallet.
type FundsDeposited struct {
	CustomerID   string `json:"customerId"`
	AmountCents  int64  `json:"amountCents"`
	BalanceCents int64  `json:"balanceCents"`
}

// EventType implements Event.
func (FundsDeposited) EventType() string { return TypeFundsDeposited }

// WalletDebited: a wallet paid for an order.
type WalletDebited struct {
	CustomerID   string `json:"customerId"`
	OrderID      string `json:"orderId"`
	AmountCents  int64  `json:"amountCents"`
	BalanceCents int64  `json:"balanceCents"`
}

// EventType implements Event.
func (WalletDebited) EventType() string { return TypeWalletDebited }

// WalletCredited: a wallet was refunded for an order.
type WalletCredited struct {
	CustomerID   string `json:"customerId"`
	OrderID      string `json:"orderId"`
	AmountCents  int64  `json:"amountCents"`
	BalanceCents int64  `json:"balanceCents"`
}

// EventType implements Event.
func (WalletCredited) EventType() string { return TypeWalletCredited }

// PaymentCaptured: an order's amount was taken (wallet or card).
type PaymentCaptured struct {
	OrderID     string `json:"orderId"`
	CustomerID  string `json:"customerId"`
	PaymentID   string `json:"paymentId"`
	AmountCents int64  `json:"amountCents"`
	Method      string `json:"method"`
}

// EventType implements Event.
func (PaymentCaptured) EventType() string { return TypePaymentCaptured }

// PaymentFailed: an order could not be paid for, for Reason.
type PaymentFailed struct {
	OrderID    string `json:"orderId"`
	CustomerID string `json:"customerId"`
	Reason     string `json:"reason"`
}

// EventType implements Event.
func (PaymentFailed) EventType() string { return TypePaymentFailed }

// PaymentRefunded: a captured payment was given back after a cancellation.
type PaymentRefunded struct {
	OrderID     string `json:"orderId"`
	CustomerID  string `json:"customerId"`
	AmountCents int64  `json:"amountCents"`
}

// EventType implements Event.
func (PaymentRefunded) EventType() string { return TypePaymentRefunded }
