package product

// Listed: the product went on sale.
type Listed struct {
	SKU        string
	Name       string
	PriceCents int64
	Currency   string
}

// Repriced: the product's price changed.
type Repriced struct {
	SKU        string
	PriceCents int64
	Currency   string
}

// StockReceived: Quantity units arrived.
type StockReceived struct {
	SKU      string
	Quantity int64
}

// StockReserved: Quantity units are held for OrderID.
type StockReserved struct {
	SKU      string
	OrderID  string
	Quantity int64
}

// ReservationReleased: OrderID's held units went back to available.
type ReservationReleased struct {
	SKU      string
	OrderID  string
	Quantity int64
}

// ReservationCommitted: OrderID's held units left for good.
type ReservationCommitted struct {
	SKU      string
	OrderID  string
	Quantity int64
}

// ReservationVoided: OrderID's reservation was given up before it reached
// this product; nothing is held and nothing will be.
type ReservationVoided struct {
	SKU     string
	OrderID string
}

// ApplyEvent folds one stored event into the state. It only changes state,
// never validates, so replay always succeeds.
func (p *Product) ApplyEvent(event any) { p.apply(event) }

// PendingEvents returns the events recorded since the product was loaded.
func (p *Product) PendingEvents() []any { return p.pending }

// ClearPendingEvents forgets the recorded events once they are saved, so
// the product can record the next ones.
func (p *Product) ClearPendingEvents() { p.pending = nil }

func (p *Product) record(e any) {
	p.apply(e)
	p.pending = append(p.pending, e)
}

func (p *Product) apply(event any) {
	switch e := event.(type) {
	case Listed:
		p.listed, p.name, p.priceCents, p.currency = true, e.Name, e.PriceCents, e.Currency
	case Repriced:
		p.priceCents = e.PriceCents
	case StockReceived:
		p.received += e.Quantity
		p.available += e.Quantity
	case StockReserved:
		p.available -= e.Quantity
		p.reserved += e.Quantity
		p.holds[e.OrderID] = hold{quantity: e.Quantity, status: holdReserved}
	case ReservationReleased:
		p.available += e.Quantity
		p.reserved -= e.Quantity
		p.holds[e.OrderID] = hold{quantity: e.Quantity, status: holdReleased}
	case ReservationCommitted:
		p.reserved -= e.Quantity
		p.committed += e.Quantity
		p.holds[e.OrderID] = hold{quantity: e.Quantity, status: holdCommitted}
	case ReservationVoided:
		p.holds[e.OrderID] = hold{status: holdVoided}
	}
}
