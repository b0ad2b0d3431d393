package order

import "time"

// Domain events of the order aggregate. They are private to the ordering
// context; the relay's mapper turns some of them into integration events.
// Their fields are exported only so adapters can encode them.

// Placed: the customer placed the order.
type Placed struct {
	OrderID       string
	CustomerID    string
	Lines         []PlacedLine
	TotalCents    int64
	Currency      string
	PaymentMethod string
	PlacedAt      time.Time
	Deadline      time.Time
	RequestHash   string
	// ShippingAddress is nil when the customer gave none (and in every
	// Placed recorded before addresses existed).
	ShippingAddress *PlacedAddress
}

// PlacedAddress is the shipping address of Placed.
type PlacedAddress struct {
	Recipient, Line1, Line2, City, PostalCode, Country string
}

// PlacedLine is a line of Placed.
type PlacedLine struct {
	SKU            string
	Quantity       int
	UnitPriceCents int64
}

// Reserved: catalog reserved every line (private to ordering).
type Reserved struct {
	CausationID string
}

// Confirmed: the payment was captured; the order is final.
type Confirmed struct {
	CustomerID  string
	TotalCents  int64
	CausationID string
}

// Cancelled: the order is cancelled for Reason; final.
type Cancelled struct {
	CustomerID  string
	Reason      string
	CausationID string
}
