package pricebook

// Listed: catalog listed the product (private to ordering).
type Listed struct {
	SKU            string
	Name           string
	PriceCents     int64
	Currency       string
	SourceRevision uint64
}

// Repriced: catalog changed the product's price (private to ordering).
type Repriced struct {
	SKU            string
	PriceCents     int64
	Currency       string
	SourceRevision uint64
}
