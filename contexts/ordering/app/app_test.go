package app_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/troupe-dev/troupe/contexts/ordering/adapters"
	"github.com/troupe-dev/troupe/contexts/ordering/app"
	"github.com/troupe-dev/troupe/contexts/ordering/domain/order"
	"github.com/troupe-dev/troupe/contexts/ordering/domain/pricebook"
	"github.com/troupe-dev/troupe/contexts/ordering/internal/testenv"
)

var start = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

type fixture struct {
	app    *app.App
	orders *adapters.OrderRepository
	prices *adapters.PriceBookRepository
	clock  *testenv.Clock
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	client := testenv.EventStore(t)
	reg := adapters.NewEventRegistry()
	orders, err := adapters.NewOrderRepository(client, reg)
	if err != nil {
		t.Fatal(err)
	}
	prices, err := adapters.NewPriceBookRepository(client, reg)
	if err != nil {
		t.Fatal(err)
	}
	clock := testenv.NewClock(start)
	a, err := app.New(app.Config{Orders: orders, Prices: prices, OrderTimeout: time.Minute, Now: clock.Now, Logger: testenv.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{app: a, orders: orders, prices: prices, clock: clock}
	f.list(t, "MUG-1", 500, 0)
	f.list(t, "TEA-2", 250, 0)
	return f
}

func (f *fixture) list(t *testing.T, sku string, price int64, rev uint64) {
	t.Helper()
	if err := f.app.OnProductListed(context.Background(), sku, sku+" name", price, "EUR", rev, cause()); err != nil {
		t.Fatal(err)
	}
}

func cause() app.Cause { return app.Cause{EventID: uuid.NewString(), CorrelationID: uuid.NewString()} }

func (f *fixture) place(t *testing.T, customer string) string {
	t.Helper()
	res, err := f.app.PlaceOrder(context.Background(), app.PlaceOrder{
		CustomerID: customer, PaymentMethod: "wallet",
		Lines: []app.LineRequest{{SKU: "MUG-1", Quantity: 2}, {SKU: "TEA-2", Quantity: 4}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return res.OrderID
}

func (f *fixture) load(t *testing.T, id string) (*order.Order, uint64) {
	t.Helper()
	o, rev, err := f.orders.Load(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return o, rev
}

func fieldsOf(err error) []string {
	var verr *app.ValidationError
	if !errors.As(err, &verr) {
		return nil
	}
	var out []string
	for _, f := range verr.Fields {
		out = append(out, f.Field)
	}
	return out
}

func TestPlaceOrderPricesFromThePriceBook(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	if err := f.app.OnProductRepriced(ctx, "TEA-2", 300, "EUR", 1, cause()); err != nil {
		t.Fatal(err)
	}
	res, err := f.app.PlaceOrder(ctx, app.PlaceOrder{
		CustomerID: "c-1", PaymentMethod: "card",
		Lines: []app.LineRequest{{SKU: "MUG-1", Quantity: 2}, {SKU: "TEA-2", Quantity: 4}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Written.Stream != "ordering.order-"+res.OrderID || res.Written.Revision != 0 || res.Repeat {
		t.Fatalf("written %+v", res)
	}
	o, _ := f.load(t, res.OrderID)
	if o.TotalCents() != 2*500+4*300 || o.Status() != order.StatusPending || o.PaymentMethod() != order.PaymentCard ||
		o.Currency() != "EUR" || !o.Deadline().Equal(start.Add(time.Minute)) || o.Lines()[1].UnitPriceCents() != 300 {
		t.Fatalf("order total %d status %s deadline %v", o.TotalCents(), o.Status(), o.Deadline())
	}
}

// TestPlaceOrderKeepsTheShippingAddress: an address given is trimmed and
// stored with the order; none given is the zero Address.
func TestPlaceOrderKeepsTheShippingAddress(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	res, err := f.app.PlaceOrder(ctx, app.PlaceOrder{CustomerID: "c-1", PaymentMethod: "wallet",
		Lines:           []app.LineRequest{{SKU: "MUG-1", Quantity: 1}},
		ShippingAddress: &app.AddressRequest{Recipient: "Ada ", Line1: "Main St 1", City: "Berlin", PostalCode: "10115", Country: "DE"}})
	if err != nil {
		t.Fatal(err)
	}
	o, _ := f.load(t, res.OrderID)
	if a := o.ShippingAddress(); a.Recipient() != "Ada" || a.City() != "Berlin" || a.Country() != "DE" || a.Line2() != "" {
		t.Fatalf("address %+v", a)
	}
	res, err = f.app.PlaceOrder(ctx, app.PlaceOrder{CustomerID: "c-1", PaymentMethod: "wallet",
		Lines: []app.LineRequest{{SKU: "MUG-1", Quantity: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := f.load(t, res.OrderID); !o.ShippingAddress().IsZero() {
		t.Fatalf("address %+v without one given", o.ShippingAddress())
	}
}

func TestPlaceOrderRejectsBadInputAndAppendsNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if err := f.app.OnProductListed(context.Background(), "USD-1", "dollar thing", 100, "USD", 0, cause()); err != nil {
		t.Fatal(err)
	}
	many := make([]app.LineRequest, order.MaxLines+1)
	for i := range many {
		many[i] = app.LineRequest{SKU: "MUG-1", Quantity: 1}
	}
	for _, tc := range []struct {
		name   string
		cmd    app.PlaceOrder
		fields []string
	}{
		{"no lines", app.PlaceOrder{PaymentMethod: "wallet"}, []string{"lines"}},
		{"too many lines", app.PlaceOrder{PaymentMethod: "wallet", Lines: many}, []string{"lines"}},
		{"bad quantity and method", app.PlaceOrder{PaymentMethod: "cash", Lines: []app.LineRequest{
			{SKU: "MUG-1", Quantity: 1}, {SKU: "MUG-1", Quantity: 0}, {SKU: "MUG-1", Quantity: 1001}}},
			[]string{"lines[1].quantity", "lines[2].quantity", "paymentMethod"}},
		{"unknown SKU", app.PlaceOrder{PaymentMethod: "wallet", Lines: []app.LineRequest{
			{SKU: "MUG-1", Quantity: 1}, {SKU: "NOPE-9", Quantity: 1}}}, []string{"lines[1].sku"}},
		{"malformed SKU", app.PlaceOrder{PaymentMethod: "wallet", Lines: []app.LineRequest{{SKU: "a b", Quantity: 1}}},
			[]string{"lines[0].sku"}},
		{"other currency", app.PlaceOrder{PaymentMethod: "wallet", Lines: []app.LineRequest{{SKU: "USD-1", Quantity: 1}}},
			[]string{"lines[0].sku"}},
		{"bad address", app.PlaceOrder{PaymentMethod: "wallet", Lines: []app.LineRequest{{SKU: "MUG-1", Quantity: 1}},
			ShippingAddress: &app.AddressRequest{Recipient: " ", Line1: "Main St 1", City: "Berlin", PostalCode: "10115", Country: "de"}},
			[]string{"shippingAddress.recipient", "shippingAddress.country"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cmd.CustomerID, tc.cmd.IdempotencyKey = "c-1", uuid.NewString()
			_, err := f.app.PlaceOrder(context.Background(), tc.cmd)
			got := fieldsOf(err)
			if len(got) != len(tc.fields) {
				t.Fatalf("fields %v (%v), want %v", got, err, tc.fields)
			}
			for i := range got {
				if got[i] != tc.fields[i] {
					t.Fatalf("fields %v, want %v", got, tc.fields)
				}
			}
			// The key's order id would have been used: nothing is there.
			again := tc.cmd
			again.Lines, again.PaymentMethod = []app.LineRequest{{SKU: "MUG-1", Quantity: 1}}, "wallet"
			again.ShippingAddress = nil
			res, err := f.app.PlaceOrder(context.Background(), again)
			if err != nil || res.Repeat || res.Written.Revision != 0 {
				t.Fatalf("a valid request with the same key: %+v %v", res, err)
			}
		})
	}
}

func TestPlaceOrderIdempotencyKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	cmd := app.PlaceOrder{CustomerID: "c-1", PaymentMethod: "wallet", IdempotencyKey: "k-1",
		Lines: []app.LineRequest{{SKU: "MUG-1", Quantity: 1}}}
	first, err := f.app.PlaceOrder(ctx, cmd)
	if err != nil {
		t.Fatal(err)
	}
	second, err := f.app.PlaceOrder(ctx, cmd)
	if err != nil || second.OrderID != first.OrderID || !second.Repeat || second.Written.Appended != 0 {
		t.Fatalf("repeat: %+v %v (first %+v)", second, err, first)
	}
	if _, rev := f.load(t, first.OrderID); rev != 0 {
		t.Fatalf("order stream at %d after a repeat, want 0", rev)
	}
	changed := cmd
	changed.Lines = []app.LineRequest{{SKU: "MUG-1", Quantity: 2}}
	if _, err := f.app.PlaceOrder(ctx, changed); len(fieldsOf(err)) != 1 || fieldsOf(err)[0] != "Idempotency-Key" {
		t.Fatalf("same key, other body: %v", err)
	}
	other := cmd
	other.CustomerID = "c-2"
	res, err := f.app.PlaceOrder(ctx, other)
	if err != nil || res.OrderID == first.OrderID || res.Repeat {
		t.Fatalf("same key, other customer: %+v %v", res, err)
	}
}

func TestPriceBookRedeliveryActsOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	c := cause()
	for range 2 {
		if err := f.app.OnProductRepriced(ctx, "MUG-1", 700, "EUR", 5, c); err != nil {
			t.Fatal(err)
		}
	}
	// An older event arriving late (another id) does not win either.
	if err := f.app.OnProductRepriced(ctx, "MUG-1", 1, "EUR", 3, cause()); err != nil {
		t.Fatal(err)
	}
	e, err := f.prices.Load(ctx, "MUG-1")
	if err != nil {
		t.Fatal(err)
	}
	if p, _, _ := e.Price(); p != 700 {
		t.Fatalf("price %d, want 700", p)
	}
	w, err := f.prices.Update(ctx, "MUG-1", func(*pricebook.Entry) error { return nil })
	if err != nil || w.Revision != 1 {
		t.Fatalf("price-book stream at %d (%v), want 1: listed + one reprice", w.Revision, err)
	}
}

func TestSagaPolicies(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()

	t.Run("reserved then captured confirms, redeliveries act once", func(t *testing.T) {
		id := f.place(t, "c-1")
		reserved, captured := cause(), cause()
		for range 2 {
			if err := f.app.OnStockReserved(ctx, id, reserved); err != nil {
				t.Fatal(err)
			}
			if err := f.app.OnPaymentCaptured(ctx, id, captured); err != nil {
				t.Fatal(err)
			}
		}
		o, rev := f.load(t, id)
		if o.Status() != order.StatusConfirmed || rev != 2 || !o.HasActedOn(captured.EventID) {
			t.Fatalf("status %s at %d", o.Status(), rev)
		}
		// A late failure cannot undo a confirmation.
		if err := f.app.OnPaymentFailed(ctx, id, cause()); err != nil {
			t.Fatal(err)
		}
		if o, _ := f.load(t, id); o.Status() != order.StatusConfirmed {
			t.Fatalf("status %s", o.Status())
		}
	})
	t.Run("captured before reserved confirms", func(t *testing.T) {
		id := f.place(t, "c-1")
		if err := f.app.OnPaymentCaptured(ctx, id, cause()); err != nil {
			t.Fatal(err)
		}
		if err := f.app.OnStockReserved(ctx, id, cause()); err != nil {
			t.Fatal(err)
		}
		if o, rev := f.load(t, id); o.Status() != order.StatusConfirmed || rev != 1 {
			t.Fatalf("status %s at %d", o.Status(), rev)
		}
	})
	for _, tc := range []struct {
		name   string
		react  func(id string, c app.Cause) error
		reason order.Reason
	}{
		{"out of stock", func(id string, c app.Cause) error { return f.app.OnStockReservationFailed(ctx, id, "out_of_stock", c) }, order.ReasonOutOfStock},
		{"unknown product", func(id string, c app.Cause) error {
			return f.app.OnStockReservationFailed(ctx, id, "unknown_product", c)
		}, order.ReasonUnknownProduct},
		{"payment failed", func(id string, c app.Cause) error { return f.app.OnPaymentFailed(ctx, id, c) }, order.ReasonPaymentFailed},
	} {
		t.Run(tc.name+" cancels, then a capture is ignored", func(t *testing.T) {
			id := f.place(t, "c-1")
			c := cause()
			for range 2 {
				if err := tc.react(id, c); err != nil {
					t.Fatal(err)
				}
			}
			if err := f.app.OnPaymentCaptured(ctx, id, cause()); err != nil {
				t.Fatal(err)
			}
			o, rev := f.load(t, id)
			if o.Status() != order.StatusCancelled || o.Reason() != tc.reason || rev != 1 {
				t.Fatalf("status %s %s at %d", o.Status(), o.Reason(), rev)
			}
		})
	}
	t.Run("unknown reason is an error", func(t *testing.T) {
		if err := f.app.OnStockReservationFailed(ctx, f.place(t, "c-1"), "weather", cause()); err == nil {
			t.Fatal("no error")
		}
	})
	t.Run("unknown order is ignored and nothing appended", func(t *testing.T) {
		id := uuid.NewString()
		if err := f.app.OnPaymentCaptured(ctx, id, cause()); err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.orders.Load(ctx, id); !errors.Is(err, app.ErrNotFound) {
			t.Fatalf("load: %v", err)
		}
	})
}

func TestCancelOrder(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	id := f.place(t, "c-1")
	if _, err := f.app.CancelOrder(ctx, app.CancelOrder{OrderID: id, CustomerID: "c-2"}); !errors.Is(err, app.ErrForbidden) {
		t.Fatalf("another customer: %v", err)
	}
	w, err := f.app.CancelOrder(ctx, app.CancelOrder{OrderID: id, CustomerID: "c-1"})
	if err != nil || w.Revision != 1 || w.Appended != 1 {
		t.Fatalf("cancel: %+v %v", w, err)
	}
	w, err = f.app.CancelOrder(ctx, app.CancelOrder{OrderID: id, CustomerID: "c-1"})
	if err != nil || w.Revision != 1 || w.Appended != 0 {
		t.Fatalf("cancel again: %+v %v", w, err)
	}
	if o, _ := f.load(t, id); o.Reason() != order.ReasonCustomerRequested {
		t.Fatalf("reason %s", o.Reason())
	}
	if _, err := f.app.CancelOrder(ctx, app.CancelOrder{OrderID: uuid.NewString(), CustomerID: "c-1"}); !errors.Is(err, app.ErrNotFound) {
		t.Fatalf("unknown order: %v", err)
	}
	confirmed := f.place(t, "c-1")
	if err := f.app.OnPaymentCaptured(ctx, confirmed, cause()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.app.CancelOrder(ctx, app.CancelOrder{OrderID: confirmed, CustomerID: "c-1"}); !errors.Is(err, app.ErrConflict) {
		t.Fatalf("confirmed order: %v", err)
	}
}

func TestDeadlines(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	late, onTime := f.place(t, "c-1"), f.place(t, "c-1")
	if err := f.app.OnPaymentCaptured(ctx, onTime, cause()); err != nil {
		t.Fatal(err)
	}
	// Before the deadline nothing happens.
	if _, done, err := f.app.ExpireOrder(ctx, late); err != nil || done {
		t.Fatalf("early expiry: done %v, %v", done, err)
	}
	d := app.NewDeadlines(f.app, 10*time.Millisecond)
	o, _ := f.load(t, late)
	d.Schedule(late, o.Deadline())
	d.Schedule(onTime, o.Deadline())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	time.Sleep(50 * time.Millisecond)
	if o, _ := f.load(t, late); o.Status() != order.StatusPending {
		t.Fatalf("cancelled before the deadline: %s", o.Status())
	}
	f.clock.Advance(time.Minute)
	testenv.Eventually(t, 5*time.Second, "the late order is cancelled", func() bool {
		o, _ := f.load(t, late)
		return o.Status() == order.StatusCancelled && o.Reason() == order.ReasonTimeout
	})
	testenv.Eventually(t, 5*time.Second, "no deadline is left", func() bool { return d.Pending() == 0 })
	if o, rev := f.load(t, onTime); o.Status() != order.StatusConfirmed || rev != 1 {
		t.Fatalf("the confirmed order: %s at %d", o.Status(), rev)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
