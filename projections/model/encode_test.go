package model_test

import (
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/troupe-dev/troupe/projections/internal/scenario"
	"github.com/troupe-dev/troupe/projections/model"
	"github.com/troupe-dev/troupe/shared/events"
)

// TestEncodeEqualsReference: Encode gives the arguments (or the error)
// the fmt and encoding/json version gave, for every event of a history
// and odd ones, at times and revisions from the smallest to the largest.
func TestEncodeEqualsReference(t *testing.T) {
	t.Parallel()
	h := scenario.History(scenario.Config{Orders: 100, Products: 6, Customers: 4, Seed: 11})
	evs := make([]events.Event, 0, len(h)+8)
	for _, m := range h {
		evs = append(evs, m.Event)
	}
	placed := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.FixedZone("x", 3600))
	evs = append(evs,
		events.OrderPlaced{OrderID: "o-1", CustomerID: "c-1", PlacedAt: placed},
		events.OrderPlaced{OrderID: "o-1", CustomerID: "c-1", Lines: []events.PricedLine{}},
		events.OrderPlaced{OrderID: "o-1", CustomerID: "c-1", Lines: []events.PricedLine{{SKU: "A", Quantity: 0, UnitPriceCents: 0}}},
		events.OrderPlaced{OrderID: "o-1", CustomerID: "c-1", Lines: []events.PricedLine{{SKU: "A B", Quantity: 1}}},
		events.OrderPlaced{OrderID: "o-1", CustomerID: "c-1", Lines: []events.PricedLine{{SKU: "A", Quantity: -1}}},
		events.OrderPlaced{OrderID: "o-1", CustomerID: "c-1", Lines: []events.PricedLine{{SKU: "A", UnitPriceCents: -1}}},
		events.OrderPlaced{OrderID: "o|1", CustomerID: "c-1"},
		events.FundsDeposited{CustomerID: "c-1", AmountCents: -5, BalanceCents: math.MinInt64},
		events.WalletDebited{CustomerID: "c-1", OrderID: "o-1", AmountCents: math.MaxInt64, BalanceCents: -1},
		events.StockReserved{OrderID: "o-1"},
		events.OrderPlacedV1{OrderID: "o-1"},
	)
	times := []time.Time{{}, time.Unix(0, 0), time.Unix(-1, 0), time.Unix(0, -1),
		time.Date(1700, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)}
	revs := []uint64{0, 1, 42, math.MaxUint64}
	for i, e := range evs {
		src := model.Source{Stream: "s", Revision: revs[i%len(revs)], OccurredAt: times[i%len(times)],
			Topic: "t", Partition: 2, Offset: int64(i)}
		if m, ok := e.(events.OrderPlaced); ok && i%2 == 0 {
			m.PlacedAt = times[(i/2)%len(times)]
			e = m
		}
		want, werr := refEncode(e, src)
		got, gerr := model.Encode(e, src)
		if (werr == nil) != (gerr == nil) || (werr != nil && werr.Error() != gerr.Error()) {
			t.Fatalf("%#v: reference error %v, Encode error %v", e, werr, gerr)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%#v at %v:\nreference %#v\nEncode    %#v", e, src, want, got)
		}
	}
}
