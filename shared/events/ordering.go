package events

import "time"

// Ordering's integration event types and their enumerations.
const (
	// TypeOrderPlaced is the current version of order_placed (v2: with a
	// shipping address). TypeOrderPlacedV1 is its first version, still on
	// Kafka and in history; readers receive it upcast to v2.
	TypeOrderPlaced    = "ordering.order_placed.v2"
	TypeOrderPlacedV1  = "ordering.order_placed.v1"
	TypeOrderConfirmed = "ordering.order_confirmed.v1"
	TypeOrderCancelled = "ordering.order_cancelled.v1"

	PaymentMethodWallet = "wallet"
	PaymentMethodCard   = "card"

	// Cancellation reasons (besides ReasonOutOfStock and ReasonUnknownProduct).
	ReasonPaymentFailed     = "payment_failed"
	ReasonCustomerRequested = "customer_requested"
	ReasonTimeout           = "timeout"
)

// OrderPlaced: a customer placed an order, priced from ordering's price book
// (ordering.order_placed.v2). ShippingAddress is nil when unknown: the
// customer gave none, or the order was placed as v1, before addresses
// existed (the upcaster turns every v1 payload into a v2 one with a null
// address).
type OrderPlaced struct {
	OrderID         string           `json:"orderId"`
	CustomerID      string           `json:"customerId"`
	Lines           []PricedLine     `json:"lines"`
	TotalCents      int64            `json:"totalCents"`
	Currency        string           `json:"currency"`
	PaymentMethod   string           `json:"paymentMethod"`
	PlacedAt        time.Time        `json:"placedAt"`
	ShippingAddress *ShippingAddress `json:"shippingAddress"`
}

// EventType implements Event.
func (OrderPlaced) EventType() string { return TypeOrderPlaced }

// ShippingAddress is where an order is to be delivered. Line2 is optional;
// Country is an ISO 3166-1 alpha-2 code ("DE").
type ShippingAddress struct {
	Recipient  string `json:"recipient"`
	Line1      string `json:"line1"`
	Line2      string `json:"line2,omitempty"`
	City       string `json:"city"`
	PostalCode string `json:"postalCode"`
	Country    string `json:"country"`
}

// OrderPlacedV1 is ordering.order_placed.v1, the first version of
// OrderPlaced, without a shipping address. It is kept to describe (and, in
// tests, to produce) the payloads already in history; subscribers never
// receive it, because the registry upcasts v1 to OrderPlaced on read.
type OrderPlacedV1 struct {
	OrderID       string       `json:"orderId"`
	CustomerID    string       `json:"customerId"`
	Lines         []PricedLine `json:"lines"`
	TotalCents    int64        `json:"totalCents"`
	Currency      string       `json:"currency"`
	PaymentMethod string       `json:"paymentMethod"`
	PlacedAt      time.Time    `json:"placedAt"`
}

// EventType implements Event.
func (OrderPlacedV1) EventType() string { return TypeOrderPlacedV1 }

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
