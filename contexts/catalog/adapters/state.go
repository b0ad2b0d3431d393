package adapters

import (
	"context"
	"strings"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/troupe-dev/troupe/contexts/catalog/domain/product"
	"github.com/troupe-dev/troupe/contexts/catalog/domain/reservation"
)

// ProductState is the JSON view of a product that StateAt returns.
type ProductState struct {
	SKU        string `json:"sku"`
	Listed     bool   `json:"listed"`
	Name       string `json:"name"`
	PriceCents int64  `json:"priceCents"`
	Currency   string `json:"currency"`
	Received   int64  `json:"received"`
	Available  int64  `json:"available"`
	Reserved   int64  `json:"reserved"`
	Committed  int64  `json:"committed"`
	// Holds maps each order the product acted on to its hold.
	Holds map[string]HoldState `json:"holds"`
}

// HoldState is one order's hold on a product: its quantity and status
// ("reserved", "released", "committed" or "voided").
type HoldState struct {
	Quantity int64  `json:"quantity"`
	Status   string `json:"status"`
}

// ReservationState is the JSON view of a reservation that StateAt returns.
type ReservationState struct {
	OrderID string      `json:"orderId"`
	Status  string      `json:"status"`
	Lines   []LineState `json:"lines"`
	// FailureReason and FailedSKU say why a failed reservation failed.
	FailureReason string `json:"failureReason,omitempty"`
	FailedSKU     string `json:"failedSku,omitempty"`
	// Undone: a failed reservation gave back every line.
	Undone bool `json:"undone"`
	// Done: nothing is left to do on the products until the next command.
	Done bool `json:"done"`
}

// LineState is a quantity of one product.
type LineState struct {
	SKU      string `json:"sku"`
	Quantity int64  `json:"quantity"`
}

// StateAt folds the catalog aggregate whose stream is stream
// (catalog.product-<sku> or catalog.reservation-<orderId>) up to and
// including revision, with the catalog's own repositories and events, and
// returns a JSON-marshalable view of it (*ProductState or
// *ReservationState). ok is false, with no error, when stream is not a
// catalog aggregate. A missing stream is an error wrapping
// eventstore.ErrNotFound; an id outside [A-Za-z0-9_-]{1,64} one wrapping
// eventstore.ErrInvalidID. It only reads (a product's snapshot is used
// when it lies at or before revision).
func StateAt(ctx context.Context, client *esdb.Client, stream string, revision uint64) (state any, ok bool, err error) {
	if sku, found := strings.CutPrefix(stream, ProductCategory+"-"); found {
		repo, err := NewProductRepository(client, Events(), 0)
		if err != nil {
			return nil, true, err
		}
		p, _, err := repo.LoadAt(ctx, sku, revision)
		if err != nil {
			return nil, true, err
		}
		return productState(p), true, nil
	}
	if orderID, found := strings.CutPrefix(stream, ReservationCategory+"-"); found {
		repo, err := NewReservationRepository(client, Events(), 0)
		if err != nil {
			return nil, true, err
		}
		r, _, err := repo.LoadAt(ctx, orderID, revision)
		if err != nil {
			return nil, true, err
		}
		return reservationState(r), true, nil
	}
	return nil, false, nil
}

func productState(p *product.Product) *ProductState {
	s := p.Snapshot()
	out := &ProductState{
		SKU: p.SKU(), Listed: s.Listed, Name: s.Name, PriceCents: s.PriceCents, Currency: s.Currency,
		Received: s.Received, Available: s.Available, Reserved: s.Reserved, Committed: s.Committed,
		Holds: make(map[string]HoldState, len(s.Holds)),
	}
	for id, h := range s.Holds {
		out.Holds[id] = HoldState{Quantity: h.Quantity, Status: h.Status}
	}
	return out
}

func reservationState(r *reservation.Reservation) *ReservationState {
	reason, sku := r.Failure()
	out := &ReservationState{
		OrderID: r.OrderID(), Status: r.Status().String(), Lines: []LineState{},
		FailureReason: reason, FailedSKU: sku, Undone: r.Undone(), Done: r.Done(),
	}
	for _, l := range r.Lines() {
		out.Lines = append(out.Lines, LineState{SKU: l.SKU, Quantity: l.Quantity})
	}
	return out
}
