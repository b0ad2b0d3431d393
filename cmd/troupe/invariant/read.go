package invariant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	catalogadapters "github.com/troupe-dev/troupe/contexts/catalog/adapters"
	"github.com/troupe-dev/troupe/contexts/catalog/domain/product"
	orderingadapters "github.com/troupe-dev/troupe/contexts/ordering/adapters"
	paymentsadapters "github.com/troupe-dev/troupe/contexts/payments/adapters"
	"github.com/troupe-dev/troupe/shared/events"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
	"github.com/troupe-dev/troupe/shared/platform/relay"
)

// Reader turns stored events into Records with each context's own registry
// and relay mapper, so the checker sees exactly what the contexts publish,
// plus the catalog's private per-order holds on products. It is safe for
// concurrent use.
type Reader struct {
	catalogEvents *eventstore.Registry
	mappers       map[string]relay.Mapper
}

// NewReader returns a Reader.
func NewReader() *Reader {
	cat := catalogadapters.Events()
	pay := paymentsadapters.Events()
	return &Reader{catalogEvents: cat, mappers: map[string]relay.Mapper{
		"catalog.":  catalogadapters.NewMapper(cat),
		"ordering.": orderingadapters.Mapper(orderingadapters.NewEventRegistry()),
		"payments.": paymentsadapters.NewMapper(pay),
	}}
}

// checked reports whether stream belongs to the saga's write model.
func checked(stream string) bool {
	for _, c := range []string{catalogadapters.ProductCategory, catalogadapters.ReservationCategory,
		orderingadapters.OrderCategory, paymentsadapters.PaymentCategory, paymentsadapters.WalletCategory} {
		if strings.HasPrefix(stream, c+"-") {
			return true
		}
	}
	return false
}

// Record converts one stored event: an integration event, a Hold for the
// catalog's private product events, or ok false for anything else private.
func (r *Reader) Record(ev eventstore.RecordedEvent) (rec Record, ok bool, err error) {
	if !checked(ev.Stream) {
		return Record{}, false, nil
	}
	rec = Record{Stream: ev.Stream, Revision: ev.Revision}
	if strings.HasPrefix(ev.Stream, catalogadapters.ProductCategory+"-") {
		d, err := r.catalogEvents.Decode(ev.Type, ev.Data)
		if err != nil {
			return Record{}, false, fmt.Errorf("decode %s@%d: %w", ev.Stream, ev.Revision, err)
		}
		switch e := d.(type) {
		case product.StockReserved:
			rec.Event = Hold{Kind: HoldReserved, SKU: e.SKU, OrderID: e.OrderID, Quantity: e.Quantity}
			return rec, true, nil
		case product.ReservationReleased:
			rec.Event = Hold{Kind: HoldReleased, SKU: e.SKU, OrderID: e.OrderID, Quantity: e.Quantity}
			return rec, true, nil
		case product.ReservationCommitted:
			rec.Event = Hold{Kind: HoldCommitted, SKU: e.SKU, OrderID: e.OrderID, Quantity: e.Quantity}
			return rec, true, nil
		case product.ReservationVoided:
			rec.Event = Hold{Kind: HoldVoided, SKU: e.SKU, OrderID: e.OrderID}
			return rec, true, nil
		}
	}
	m := r.mappers[ev.Stream[:strings.Index(ev.Stream, ".")+1]]
	ie, ok, err := m.Map(ev)
	if err != nil || !ok {
		return Record{}, false, err
	}
	e, err := events.NewRegistry().Decode(ie.Type, ie.Payload)
	if err != nil {
		return Record{}, false, fmt.Errorf("decode %s from %s@%d: %w", ie.Type, ev.Stream, ev.Revision, err)
	}
	rec.Event = e
	return rec, true, nil
}

// ReadAll reads $all from the start and returns the saga's Records in $all
// order.
func (r *Reader) ReadAll(ctx context.Context, client *esdb.Client) ([]Record, error) {
	rs, err := client.ReadAll(ctx, esdb.ReadAllOptions{From: esdb.Start{}, Direction: esdb.Forwards}, math.MaxInt64)
	if err != nil {
		return nil, fmt.Errorf("read $all: %w", err)
	}
	defer rs.Close()
	var out []Record
	for {
		resolved, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read $all: %w", err)
		}
		if resolved.Event == nil || strings.HasPrefix(resolved.Event.StreamID, "$") {
			continue
		}
		rec, ok, err := r.Record(eventstore.NewRecordedEvent(resolved.Event))
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, rec)
		}
	}
}

// ProductStock loads each SKU's product aggregate with the catalog's own
// repository and returns its counters (received, available, reserved,
// committed), for Check's cross-check of the catalog's state.
func ProductStock(ctx context.Context, client *esdb.Client, skus []string) (map[string]Stock, error) {
	repo, err := catalogadapters.NewProductRepository(client, catalogadapters.Events(), 1)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Stock, len(skus))
	for _, sku := range skus {
		p, _, err := repo.Load(ctx, sku)
		if err != nil {
			return nil, fmt.Errorf("load product %s: %w", sku, err)
		}
		var s Stock
		s.Received, s.Available, s.Reserved, s.Committed = p.Stock()
		out[sku] = s
	}
	return out, nil
}

// CheckStore reads the event store, loads every product it mentions and
// checks the whole history.
func CheckStore(ctx context.Context, client *esdb.Client) (Report, error) {
	recs, err := NewReader().ReadAll(ctx, client)
	if err != nil {
		return Report{}, err
	}
	skus := map[string]bool{}
	for _, r := range recs {
		if sku, ok := strings.CutPrefix(r.Stream, catalogadapters.ProductCategory+"-"); ok {
			skus[sku] = true
		}
	}
	list := make([]string, 0, len(skus))
	for s := range skus {
		list = append(list, s)
	}
	stock, err := ProductStock(ctx, client, list)
	if err != nil {
		return Report{}, err
	}
	return Check(recs, stock), nil
}

// MarshalJSON lets a Record print readably in failure messages.
func (r Record) MarshalJSON() ([]byte, error) {
	typ := fmt.Sprintf("%T", r.Event)
	if e, ok := r.Event.(events.Event); ok {
		typ = e.EventType()
	}
	return json.Marshal(struct {
		Stream   string `json:"stream"`
		Revision uint64 `json:"revision"`
		Type     string `json:"type"`
		Event    any    `json:"event"`
	}{r.Stream, r.Revision, typ, r.Event})
}
