// Package events holds Troupe's integration-event contracts: the only
// messages that leave a bounded context, published on Kafka as the JSON
// payload alone (amounts in integer cents). It has no dependencies beyond
// the standard library, so any subscriber can import it cheaply.
//
// Each type name is versioned ("ordering.order_placed.v1"); a breaking
// change is a new version, never an edit of an existing one.
package events

// Event is an integration event: a payload with a versioned type name.
type Event interface {
	// EventType returns the versioned type, e.g. "catalog.product_listed.v1".
	EventType() string
}

// Contexts that publish integration events; each publishes to
// "<context>.events".
const (
	ContextCatalog  = "catalog"
	ContextOrdering = "ordering"
	ContextPayments = "payments"
)

// Line is a SKU and a quantity.
type Line struct {
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
}

// PricedLine is an order line with the unit price it was ordered at.
type PricedLine struct {
	SKU            string `json:"sku"`
	Quantity       int    `json:"quantity"`
	UnitPriceCents int64  `json:"unitPriceCents"`
}
