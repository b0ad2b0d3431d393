package product

import (
	"errors"
	"reflect"
	"testing"
)

const sku = "SKU-1"

// given folds history into a fresh product, as the repository would.
func given(events ...any) *Product {
	p := New(sku)
	for _, e := range events {
		p.ApplyEvent(e)
	}
	return p
}

func then(t *testing.T, p *Product, err, wantErr error, want ...any) {
	t.Helper()
	if !errors.Is(err, wantErr) {
		t.Fatalf("error = %v, want %v", err, wantErr)
	}
	got := p.PendingEvents()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("events = %#v\nwant %#v", got, want)
	}
}

var (
	listed   = Listed{SKU: sku, Name: "Mug", PriceCents: 900, Currency: "EUR"}
	received = StockReceived{SKU: sku, Quantity: 10}
)

func TestList(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		sku      string
		given    []any
		pname    string
		price    int64
		currency string
		wantErr  error
		want     []any
	}{
		{"lists", sku, nil, "Mug", 900, "EUR", nil, []any{listed}},
		{"twice", sku, []any{listed}, "Mug", 900, "EUR", ErrAlreadyListed, nil},
		{"bad sku", "x", nil, "Mug", 900, "EUR", ErrInvalidSKU, nil},
		{"empty name", sku, nil, "", 900, "EUR", ErrInvalidName, nil},
		{"blank name", sku, nil, "   ", 900, "EUR", ErrInvalidName, nil},
		{"zero price", sku, nil, "Mug", 0, "EUR", ErrInvalidPrice, nil},
		{"huge price", sku, nil, "Mug", MaxPriceCents + 1, "EUR", ErrInvalidPrice, nil},
		{"bad currency", sku, nil, "Mug", 900, "eur", ErrInvalidCurrency, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := New(tt.sku)
			for _, e := range tt.given {
				p.ApplyEvent(e)
			}
			err := p.List(tt.pname, tt.price, tt.currency)
			then(t, p, err, tt.wantErr, tt.want...)
		})
	}
}

func TestReprice(t *testing.T) {
	t.Parallel()
	p := given(listed)
	then(t, p, p.Reprice(1200), nil, Repriced{SKU: sku, PriceCents: 1200, Currency: "EUR"})
	if p.PriceCents() != 1200 {
		t.Fatalf("price = %d", p.PriceCents())
	}
	p = given()
	then(t, p, p.Reprice(1200), ErrNotListed)
	p = given(listed)
	then(t, p, p.Reprice(-1), ErrInvalidPrice)
}

func TestReceiveStock(t *testing.T) {
	t.Parallel()
	p := given(listed)
	then(t, p, p.ReceiveStock(10), nil, received)
	p = given()
	then(t, p, p.ReceiveStock(10), ErrNotListed)
	for _, q := range []int64{0, -1, MaxReceivedQuantity + 1} {
		p = given(listed)
		then(t, p, p.ReceiveStock(q), ErrInvalidQuantity)
	}
	p = given(listed)
	then(t, p, p.ReceiveStock(MaxReceivedQuantity), nil, StockReceived{SKU: sku, Quantity: MaxReceivedQuantity})
}

func TestReserve(t *testing.T) {
	t.Parallel()
	reserved := StockReserved{SKU: sku, OrderID: "o1", Quantity: 4}

	p := given(listed, received)
	then(t, p, p.Reserve("o1", 4), nil, reserved)
	assertStock(t, p, 10, 6, 4, 0)

	// A repeat for the same order takes nothing more.
	p = given(listed, received, reserved)
	then(t, p, p.Reserve("o1", 4), nil)
	assertStock(t, p, 10, 6, 4, 0)

	// More than available.
	p = given(listed, received, reserved)
	then(t, p, p.Reserve("o2", 7), ErrOutOfStock)

	// Exactly what is available.
	p = given(listed, received, reserved)
	then(t, p, p.Reserve("o2", 6), nil, StockReserved{SKU: sku, OrderID: "o2", Quantity: 6})
	assertStock(t, p, 10, 0, 10, 0)

	p = given()
	then(t, p, p.Reserve("o1", 1), ErrNotListed)
	p = given(listed, received)
	then(t, p, p.Reserve("o1", 0), ErrInvalidQuantity)
	p = given(listed, received)
	then(t, p, p.Reserve("", 1), ErrInvalidOrderID)

	// An order released, committed or voided here is never reserved again.
	for _, after := range []any{
		ReservationReleased{SKU: sku, OrderID: "o1", Quantity: 4},
		ReservationCommitted{SKU: sku, OrderID: "o1", Quantity: 4},
	} {
		p = given(listed, received, reserved, after)
		then(t, p, p.Reserve("o1", 4), nil)
	}
	p = given(listed, received, ReservationVoided{SKU: sku, OrderID: "o1"})
	then(t, p, p.Reserve("o1", 4), nil)
	assertStock(t, p, 10, 10, 0, 0)
}

func TestRelease(t *testing.T) {
	t.Parallel()
	reserved := StockReserved{SKU: sku, OrderID: "o1", Quantity: 4}
	released := ReservationReleased{SKU: sku, OrderID: "o1", Quantity: 4}

	p := given(listed, received, reserved)
	then(t, p, p.Release("o1"), nil, released)
	assertStock(t, p, 10, 10, 0, 0)

	p = given(listed, received, reserved, released)
	then(t, p, p.Release("o1"), nil)

	// Never reserved here: voided, so a late reserve takes nothing.
	p = given(listed, received)
	then(t, p, p.Release("o1"), nil, ReservationVoided{SKU: sku, OrderID: "o1"})

	// Committed stock is not given back.
	p = given(listed, received, reserved, ReservationCommitted{SKU: sku, OrderID: "o1", Quantity: 4})
	then(t, p, p.Release("o1"), nil)
	assertStock(t, p, 10, 6, 0, 4)

	// Unlisted: nothing can be held there.
	p = given()
	then(t, p, p.Release("o1"), nil)
}

func TestCommit(t *testing.T) {
	t.Parallel()
	reserved := StockReserved{SKU: sku, OrderID: "o1", Quantity: 4}
	committed := ReservationCommitted{SKU: sku, OrderID: "o1", Quantity: 4}

	p := given(listed, received, reserved)
	then(t, p, p.Commit("o1"), nil, committed)
	assertStock(t, p, 10, 6, 0, 4)

	p = given(listed, received, reserved, committed)
	then(t, p, p.Commit("o1"), nil)

	p = given(listed, received)
	then(t, p, p.Commit("o1"), ErrNotReserved)

	p = given(listed, received, reserved, ReservationReleased{SKU: sku, OrderID: "o1", Quantity: 4})
	then(t, p, p.Commit("o1"), ErrNotReserved)
}

func assertStock(t *testing.T, p *Product, received, available, reserved, committed int64) {
	t.Helper()
	r, a, res, c := p.Stock()
	if r != received || a != available || res != reserved || c != committed {
		t.Fatalf("stock = %d/%d/%d/%d, want %d/%d/%d/%d", r, a, res, c, received, available, reserved, committed)
	}
	if r != a+res+c || a < 0 {
		t.Fatalf("invariant broken: %d != %d+%d+%d", r, a, res, c)
	}
}
