package adapters

import (
	"context"
	"strings"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/troupe-dev/troupe/contexts/ordering/domain/order"
)

// OrderState is the JSON view of an order that StateAt returns.
type OrderState struct {
	OrderID       string      `json:"orderId"`
	CustomerID    string      `json:"customerId"`
	Status        string      `json:"status"`
	Reason        string      `json:"reason,omitempty"`
	Lines         []LineState `json:"lines"`
	TotalCents    int64       `json:"totalCents"`
	Currency      string      `json:"currency"`
	PaymentMethod string      `json:"paymentMethod"`
	PlacedAt      time.Time   `json:"placedAt"`
	Deadline      time.Time   `json:"deadline"`
	// ShippingAddress is nil when the customer gave none.
	ShippingAddress *AddressState `json:"shippingAddress,omitempty"`
}

// LineState is a priced order line.
type LineState struct {
	SKU            string `json:"sku"`
	Quantity       int    `json:"quantity"`
	UnitPriceCents int64  `json:"unitPriceCents"`
}

// AddressState is an order's shipping address.
type AddressState struct {
	Recipient  string `json:"recipient"`
	Line1      string `json:"line1"`
	Line2      string `json:"line2,omitempty"`
	City       string `json:"city"`
	PostalCode string `json:"postalCode"`
	Country    string `json:"country"`
}

// PriceState is the JSON view of a price-book entry that StateAt returns.
type PriceState struct {
	SKU        string `json:"sku"`
	Listed     bool   `json:"listed"`
	Name       string `json:"name"`
	PriceCents int64  `json:"priceCents"`
	Currency   string `json:"currency"`
}

// StateAt folds the ordering aggregate whose stream is stream
// (ordering.order-<orderId> or ordering.pricebook-<sku>) up to and
// including revision, with ordering's own repositories and events, and
// returns a JSON-marshalable view of it (*OrderState or *PriceState). ok is
// false, with no error, when stream is not an ordering aggregate. A missing
// stream is an error wrapping eventstore.ErrNotFound; an id outside
// [A-Za-z0-9_-]{1,64} one wrapping eventstore.ErrInvalidID. It only reads.
func StateAt(ctx context.Context, client *esdb.Client, stream string, revision uint64) (state any, ok bool, err error) {
	if orderID, found := strings.CutPrefix(stream, OrderStreamPrefix); found {
		r, err := NewOrderRepository(client, NewEventRegistry())
		if err != nil {
			return nil, true, err
		}
		o, _, err := r.repo.LoadAt(ctx, orderID, revision)
		if err != nil {
			return nil, true, err
		}
		return orderState(o), true, nil
	}
	if sku, found := strings.CutPrefix(stream, PriceBookCategory+"-"); found {
		r, err := NewPriceBookRepository(client, NewEventRegistry())
		if err != nil {
			return nil, true, err
		}
		e, _, err := r.repo.LoadAt(ctx, sku, revision)
		if err != nil {
			return nil, true, err
		}
		return &PriceState{SKU: e.SKU(), Listed: e.Listed(), Name: e.Name(), PriceCents: e.PriceCents(), Currency: e.Currency()}, true, nil
	}
	return nil, false, nil
}

func orderState(o *order.Order) *OrderState {
	s := &OrderState{
		OrderID: o.ID(), CustomerID: o.CustomerID(), Status: string(o.Status()), Reason: string(o.Reason()),
		Lines: []LineState{}, TotalCents: o.TotalCents(), Currency: o.Currency(),
		PaymentMethod: string(o.PaymentMethod()), PlacedAt: o.PlacedAt(), Deadline: o.Deadline(),
	}
	for _, l := range o.Lines() {
		s.Lines = append(s.Lines, LineState{SKU: l.SKU(), Quantity: l.Quantity(), UnitPriceCents: l.UnitPriceCents()})
	}
	if a := o.ShippingAddress(); !a.IsZero() {
		s.ShippingAddress = &AddressState{Recipient: a.Recipient(), Line1: a.Line1(), Line2: a.Line2(),
			City: a.City(), PostalCode: a.PostalCode(), Country: a.Country()}
	}
	return s
}
