package events

// Catalog's integration event types.
const (
	TypeProductListed          = "catalog.product_listed.v1"
	TypeProductRepriced        = "catalog.product_repriced.v1"
	TypeStockReceived          = "catalog.stock_received.v1"
	TypeStockReserved          = "catalog.stock_reserved.v1"
	TypeStockReservationFailed = "catalog.stock_reservation_failed.v1"
	TypeStockReleased          = "catalog.stock_released.v1"
	TypeStockCommitted         = "catalog.stock_committed.v1"
	ReasonOutOfStock           = "out_of_stock"
	ReasonUnknownProduct       = "unknown_product"
)

// ProductListed: a product entered the catalog.
type ProductListed struct {
	SKU        string `json:"sku"`
	Name       string `json:"name"`
	PriceCents int64  `json:"priceCents"`
	Currency   string `json:"currency"`
}

// EventType implements Event.
func (ProductListed) EventType() string { return TypeProductListed }

// ProductRepriced: a product's price changed.
type ProductRepriced struct {
	SKU        string `json:"sku"`
	PriceCents int64  `json:"priceCents"`
	Currency   string `json:"currency"`
}

// EventType implements Event.
func (ProductRepriced) EventType() string { return TypeProductRepriced }

// StockReceived: stock of a product arrived.
type StockReceived struct {
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
}

// EventType implements Event.
func (StockReceived) EventType() string { return TypeStockReceived }

// StockReserved: every line of an order is reserved.
type StockReserved struct {
	OrderID string `json:"orderId"`
	Lines   []Line `json:"lines"`
}

// EventType implements Event.
func (StockReserved) EventType() string { return TypeStockReserved }

// StockReservationFailed: an order could not be reserved; nothing of it is.
// Reason is ReasonOutOfStock or ReasonUnknownProduct; SKU names the line.
type StockReservationFailed struct {
	OrderID string `json:"orderId"`
	Reason  string `json:"reason"`
	SKU     string `json:"sku"`
}

// EventType implements Event.
func (StockReservationFailed) EventType() string { return TypeStockReservationFailed }

// StockReleased: an order's reservation was given back.
type StockReleased struct {
	OrderID string `json:"orderId"`
	Lines   []Line `json:"lines"`
}

// EventType implements Event.
func (StockReleased) EventType() string { return TypeStockReleased }

// StockCommitted: an order's reserved stock left the warehouse for good.
type StockCommitted struct {
	OrderID string `json:"orderId"`
	Lines   []Line `json:"lines"`
}

// EventType implements Event.
func (StockCommitted) EventType() string { return TypeStockCommitted }
