package ports_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/troupe-dev/troupe/contexts/catalog/adapters"
	"github.com/troupe-dev/troupe/contexts/catalog/app"
	"github.com/troupe-dev/troupe/contexts/catalog/domain/product"
	"github.com/troupe-dev/troupe/contexts/catalog/domain/reservation"
	"github.com/troupe-dev/troupe/contexts/catalog/ports"
)

// TestRecoveryResumesInterruptedReservation: a process recorded the intent
// and reserved the first product, then died. The recovery subscription of
// the next process finishes the reservation, without reserving twice.
func TestRecoveryResumesInterruptedReservation(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	evs := adapters.Events()
	products, _ := adapters.NewProductRepository(client, evs, 0)
	reservations, _ := adapters.NewReservationRepository(client, evs, 0)
	a, err := app.New(app.Config{Products: products, Reservations: reservations})
	if err != nil {
		t.Fatal(err)
	}
	first, second := newSKU(), newSKU()
	for _, s := range []string{first, second} {
		if _, err := a.ListProduct(ctx, app.ListProduct{SKU: s, Name: "x", PriceCents: 1}); err != nil {
			t.Fatal(err)
		}
		if _, err := a.ReceiveStock(ctx, app.ReceiveStock{SKU: s, Quantity: 5}); err != nil {
			t.Fatal(err)
		}
	}
	order := uuid.NewString()
	lines := []reservation.Line{{SKU: first, Quantity: 2}, {SKU: second, Quantity: 3}}
	if _, err := reservations.Update(ctx, order, func(r *reservation.Reservation) error { return r.Request(lines, "placed-1") }); err != nil {
		t.Fatal(err)
	}
	if _, err := products.Update(ctx, first, func(p *product.Product) error { return p.Reserve(order, 2) }); err != nil {
		t.Fatal(err)
	}

	rec, err := ports.NewRecovery(ports.RecoveryConfig{EventStore: client, App: a, Delay: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- rec.Run(ctx) }()
	select {
	case <-rec.CaughtUp():
	case <-time.After(30 * time.Second):
		t.Fatal("recovery did not catch up")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, _, err := reservations.Load(ctx, order)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status() == reservation.StatusReserved {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status %v", r.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, l := range lines {
		p, _, err := products.Load(ctx, l.SKU)
		if err != nil {
			t.Fatal(err)
		}
		if received, available, reserved, _ := p.Stock(); received != 5 || reserved != l.Quantity || available != 5-l.Quantity {
			t.Fatalf("%s: %d/%d/%d", l.SKU, received, available, reserved)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
