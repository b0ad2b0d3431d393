package product

import (
	"reflect"
	"testing"
)

func TestSnapshotRoundTrip(t *testing.T) {
	t.Parallel()
	p := given(listed, received,
		StockReserved{SKU: sku, OrderID: "o1", Quantity: 2},
		StockReserved{SKU: sku, OrderID: "o2", Quantity: 3},
		StockReserved{SKU: sku, OrderID: "o3", Quantity: 1},
		ReservationReleased{SKU: sku, OrderID: "o2", Quantity: 3},
		ReservationCommitted{SKU: sku, OrderID: "o3", Quantity: 1},
		ReservationVoided{SKU: sku, OrderID: "o4"},
	)
	back := FromSnapshot(sku, p.Snapshot())
	if !reflect.DeepEqual(back, p) {
		t.Fatalf("round trip:\n%#v\n%#v", back, p)
	}
	// The rebuilt product keeps every order's idempotency.
	for _, o := range []string{"o1", "o2", "o3", "o4"} {
		if err := back.Reserve(o, 1); err != nil || len(back.PendingEvents()) != 0 {
			t.Fatalf("%s reserved again: %v %v", o, err, back.PendingEvents())
		}
	}
}
