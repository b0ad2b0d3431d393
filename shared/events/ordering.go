package events

import "time"

// Ordering's integration event types and their enumerations.
const (
	TypeOrderPlaced    = "ordering.order_placed.v1"
	TypeOrderConfirmed = "ordering.order_confirmed.v1"
	TypeOrderCancelled = "ordering.order_cancelled.v1"

	PaymentMethodWallet = "wallet"
	PaymentMethodCard   = "card"

	// Cancellation reasons (besides ReasonOutOfStock and ReasonUnknownProduct).
	ReasonPaymentFailed     = "payment_failed"
	ReasonCustomerRequested = "customer_requested"
	ReasonTimeout           = "timeout"
)

// OrderPlaced: a customer placed an order, priced from ordering's price book.
type OrderPlaced struct {
	OrderID       string       `json:"orderId"`
	CustomerID    string       `json:"customerId"`
	Lines         []PricedLine `json:"lines"`
	TotalCents    int64        `json:"totalCents"`
	Currency      string       `json:"currency"`
	PaymentMethod string       `json:"paymentMethod"`
	PlacedAt      time.Time    `json:"placedAt"`
}

// EventType implements Event.
func (OrderPlaced) EventType() string { return TypeOrderPlaced }

// OrderConfirmed: the order was paid for and is final.
type OrderConfirmed struct {
	OrderID    string `json:"orderId"`
	CustomerID string `json:"customerId"`
	TotalCents int64  `json:"totalCents"`
}

// EventType implements Event.
func (OrderConfirmed) EventType() string { return TypeOrderConfirmed }

// OrderCancelled: the order is cancelled for good, for Reason.
type OrderCancelled struct {
	OrderID    string `json:"orderId"`
	CustomerID string `json:"customerId"`
	Reason     string `json:"reason"`
}

// EventType implements Event.
func (OrderCancelled) EventType() string { return TypeOrderCancelled }
