package app_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/troupe-dev/troupe/contexts/catalog/adapters"
	"github.com/troupe-dev/troupe/contexts/catalog/app"
	"github.com/troupe-dev/troupe/contexts/catalog/domain/product"
	"github.com/troupe-dev/troupe/contexts/catalog/domain/reservation"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

type fixture struct {
	app          *app.Application
	products     *eventstore.Repository[*product.Product]
	reservations *eventstore.Repository[*reservation.Reservation]
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	events := adapters.Events()
	products, err := adapters.NewProductRepository(client, events, 100)
	if err != nil {
		t.Fatal(err)
	}
	reservations, err := adapters.NewReservationRepository(client, events, 100)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(app.Config{Products: products, Reservations: reservations})
	if err != nil {
		t.Fatal(err)
	}
	return fixture{app: a, products: products, reservations: reservations}
}

// sku returns a SKU unique to this test run.
func sku(t *testing.T) string {
	t.Helper()
	return "T-" + strings.ToUpper(strings.ReplaceAll(uuid.NewString(), "-", "")[:20])
}

func (f fixture) stocked(t *testing.T, quantity int64) string {
	t.Helper()
	ctx := context.Background()
	s := sku(t)
	if _, err := f.app.ListProduct(ctx, app.ListProduct{SKU: s, Name: "Thing " + s, PriceCents: 500}); err != nil {
		t.Fatal(err)
	}
	if quantity > 0 {
		if _, err := f.app.ReceiveStock(ctx, app.ReceiveStock{SKU: s, Quantity: quantity}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// reserved reserves quantity of sku for a new order and returns its id.
func (f fixture) reserved(t *testing.T, sku string, quantity int64) string {
	t.Helper()
	order := uuid.NewString()
	err := f.app.ReserveStock(context.Background(), app.ReserveStock{OrderID: order, Cause: uuid.NewString(),
		Lines: []reservation.Line{{SKU: sku, Quantity: quantity}}})
	if err != nil {
		t.Fatal(err)
	}
	return order
}

type stock struct{ received, available, reserved, committed int64 }

func (f fixture) stock(t *testing.T, s string) stock {
	t.Helper()
	p, _, err := f.products.Load(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	var st stock
	st.received, st.available, st.reserved, st.committed = p.Stock()
	if st.received != st.available+st.reserved+st.committed || st.available < 0 {
		t.Fatalf("%s: invariant broken: %+v", s, st)
	}
	return st
}

func (f fixture) reservation(t *testing.T, orderID string) *reservation.Reservation {
	t.Helper()
	r, _, err := f.reservations.Load(context.Background(), orderID)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// streamTypes lists the event types of a stream.
func streamTypes(t *testing.T, stream string) []string {
	t.Helper()
	rs, err := client.ReadStream(context.Background(), stream, esdb.ReadStreamOptions{From: esdb.Start{}}, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var out []string
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			if eventstore.IsStreamNotFound(err) {
				return nil
			}
			t.Fatal(err)
		}
		out = append(out, ev.OriginalEvent().EventType)
	}
}

func TestProductCommands(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	s := sku(t)

	res, err := f.app.ListProduct(ctx, app.ListProduct{SKU: s, Name: "Mug", PriceCents: 900})
	if err != nil || res.Stream != "catalog.product-"+s || res.Revision != 0 {
		t.Fatalf("list: %+v %v", res, err)
	}
	if _, err := f.app.ListProduct(ctx, app.ListProduct{SKU: s, Name: "Mug", PriceCents: 900}); !errors.Is(err, product.ErrAlreadyListed) {
		t.Fatalf("second list: %v", err)
	}
	res, err = f.app.RepriceProduct(ctx, app.RepriceProduct{SKU: s, PriceCents: 1000})
	if err != nil || res.Revision != 1 {
		t.Fatalf("reprice: %+v %v", res, err)
	}
	if _, err := f.app.ReceiveStock(ctx, app.ReceiveStock{SKU: s, Quantity: 7}); err != nil {
		t.Fatal(err)
	}
	if got := f.stock(t, s); got != (stock{7, 7, 0, 0}) {
		t.Fatalf("stock %+v", got)
	}

	unknown := sku(t)
	if _, err := f.app.RepriceProduct(ctx, app.RepriceProduct{SKU: unknown, PriceCents: 1}); !errors.Is(err, product.ErrNotListed) {
		t.Fatalf("reprice unknown: %v", err)
	}
	if _, err := f.app.ReceiveStock(ctx, app.ReceiveStock{SKU: unknown, Quantity: 1}); !errors.Is(err, product.ErrNotListed) {
		t.Fatalf("stock unknown: %v", err)
	}
	if _, err := f.app.ListProduct(ctx, app.ListProduct{SKU: "bad sku", Name: "x", PriceCents: 1}); !errors.Is(err, product.ErrInvalidSKU) {
		t.Fatalf("bad sku: %v", err)
	}
	if types := streamTypes(t, "catalog.product-"+unknown); types != nil {
		t.Fatalf("unknown sku stream written: %v", types)
	}
}

func TestReserveAllLines(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	a, b := f.stocked(t, 10), f.stocked(t, 3)
	order := uuid.NewString()
	cmd := app.ReserveStock{OrderID: order, Cause: uuid.NewString(), Lines: []reservation.Line{{SKU: a, Quantity: 4}, {SKU: b, Quantity: 3}}}

	if err := f.app.ReserveStock(ctx, cmd); err != nil {
		t.Fatal(err)
	}
	if r := f.reservation(t, order); r.Status() != reservation.StatusReserved {
		t.Fatalf("status %v", r.Status())
	}
	if f.stock(t, a) != (stock{10, 6, 4, 0}) || f.stock(t, b) != (stock{3, 0, 3, 0}) {
		t.Fatalf("stock %+v %+v", f.stock(t, a), f.stock(t, b))
	}

	// The same order_placed again acts once.
	before := streamTypes(t, "catalog.reservation-"+order)
	if err := f.app.ReserveStock(ctx, cmd); err != nil {
		t.Fatal(err)
	}
	if after := streamTypes(t, "catalog.reservation-"+order); len(after) != len(before) {
		t.Fatalf("redelivery appended: %v -> %v", before, after)
	}
	if f.stock(t, a) != (stock{10, 6, 4, 0}) {
		t.Fatalf("stock after redelivery %+v", f.stock(t, a))
	}
	want := []string{adapters.EventReservationRequested, adapters.EventReservationReserved}
	if fmt.Sprint(before) != fmt.Sprint(want) {
		t.Fatalf("reservation stream %v, want %v", before, want)
	}
}

func TestReserveFailsAndGivesBack(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	a, b := f.stocked(t, 10), f.stocked(t, 1)
	unknown := sku(t)

	tests := []struct {
		name   string
		lines  []reservation.Line
		reason string
		sku    string
	}{
		{"out of stock", []reservation.Line{{SKU: a, Quantity: 2}, {SKU: b, Quantity: 2}}, reservation.ReasonOutOfStock, b},
		{"unknown product", []reservation.Line{{SKU: a, Quantity: 2}, {SKU: unknown, Quantity: 1}}, reservation.ReasonUnknownProduct, unknown},
		{"malformed sku", []reservation.Line{{SKU: a, Quantity: 2}, {SKU: "not a sku!", Quantity: 1}}, reservation.ReasonUnknownProduct, "not a sku!"},
	}
	for _, tt := range tests {
		order := uuid.NewString()
		if err := f.app.ReserveStock(ctx, app.ReserveStock{OrderID: order, Cause: uuid.NewString(), Lines: tt.lines}); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		r := f.reservation(t, order)
		reason, failed := r.Failure()
		if r.Status() != reservation.StatusFailed || !r.Undone() || reason != tt.reason || failed != tt.sku {
			t.Fatalf("%s: status %v undone %v reason %q sku %q", tt.name, r.Status(), r.Undone(), reason, failed)
		}
		if got := f.stock(t, a); got != (stock{10, 10, 0, 0}) {
			t.Fatalf("%s: first line not given back: %+v", tt.name, got)
		}
	}
	if f.stock(t, b) != (stock{1, 1, 0, 0}) {
		t.Fatalf("b %+v", f.stock(t, b))
	}
	if types := streamTypes(t, "catalog.product-"+unknown); types != nil {
		t.Fatalf("unknown product stream written: %v", types)
	}
}

func TestCommitAndRelease(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	s := f.stocked(t, 10)
	reserve := func() string { return f.reserved(t, s, 3) }

	confirmed := reserve()
	cause := uuid.NewString()
	for range 2 { // the second is a redelivery
		if err := f.app.CommitStock(ctx, app.CommitStock{OrderID: confirmed, Cause: cause}); err != nil {
			t.Fatal(err)
		}
	}
	if r := f.reservation(t, confirmed); r.Status() != reservation.StatusCommitted {
		t.Fatalf("status %v", r.Status())
	}
	if got := f.stock(t, s); got != (stock{10, 7, 0, 3}) {
		t.Fatalf("after commit %+v", got)
	}

	cancelled := reserve()
	cause = uuid.NewString()
	for range 2 {
		if err := f.app.ReleaseStock(ctx, app.ReleaseStock{OrderID: cancelled, Cause: cause}); err != nil {
			t.Fatal(err)
		}
	}
	if r := f.reservation(t, cancelled); r.Status() != reservation.StatusReleased {
		t.Fatalf("status %v", r.Status())
	}
	if got := f.stock(t, s); got != (stock{10, 7, 0, 3}) {
		t.Fatalf("after release %+v", got)
	}

	// A cancel after the commit changes nothing.
	if err := f.app.ReleaseStock(ctx, app.ReleaseStock{OrderID: confirmed, Cause: uuid.NewString()}); err != nil {
		t.Fatal(err)
	}
	if got := f.stock(t, s); got != (stock{10, 7, 0, 3}) {
		t.Fatalf("after late cancel %+v", got)
	}
	want := []string{adapters.EventReservationRequested, adapters.EventReservationReserved,
		adapters.EventReservationReleaseStarted, adapters.EventReservationReleasedAll}
	if got := streamTypes(t, "catalog.reservation-"+cancelled); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("cancelled stream %v, want %v", got, want)
	}
}

func TestCancelBeforePlaced(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	s := f.stocked(t, 5)
	order := uuid.NewString()

	if err := f.app.ReleaseStock(ctx, app.ReleaseStock{OrderID: order, Cause: uuid.NewString()}); err != nil {
		t.Fatal(err)
	}
	if err := f.app.ReserveStock(ctx, app.ReserveStock{OrderID: order, Cause: uuid.NewString(), Lines: []reservation.Line{{SKU: s, Quantity: 1}}}); err != nil {
		t.Fatal(err)
	}
	if r := f.reservation(t, order); r.Status() != reservation.StatusVoided {
		t.Fatalf("status %v", r.Status())
	}
	if got := f.stock(t, s); got != (stock{5, 5, 0, 0}) {
		t.Fatalf("stock %+v", got)
	}
	// A confirm or cancel for an order never reserved does nothing.
	never := uuid.NewString()
	if err := f.app.CommitStock(ctx, app.CommitStock{OrderID: never, Cause: uuid.NewString()}); err != nil {
		t.Fatal(err)
	}
	if types := streamTypes(t, "catalog.reservation-"+never); types != nil {
		t.Fatalf("confirm of an unknown order wrote %v", types)
	}
}

// crashingProducts fails every product write after the first `allow`: a
// crash between the reservation intent and the last product write.
type crashingProducts struct {
	app.Repository[*product.Product]
	allow atomic.Int32
}

var errCrash = errors.New("simulated crash")

func (c *crashingProducts) Update(ctx context.Context, id string, fn func(*product.Product) error) (eventstore.Result, error) {
	if c.allow.Add(-1) < 0 {
		return eventstore.Result{}, errCrash
	}
	return c.Repository.Update(ctx, id, fn)
}

func TestResumeAfterCrash(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	a, b, c := f.stocked(t, 5), f.stocked(t, 5), f.stocked(t, 5)
	lines := []reservation.Line{{SKU: a, Quantity: 1}, {SKU: b, Quantity: 2}, {SKU: c, Quantity: 3}}

	for allow := range int32(3) {
		crashing := &crashingProducts{Repository: f.products}
		crashing.allow.Store(allow)
		crashed, err := app.New(app.Config{Products: crashing, Reservations: f.reservations})
		if err != nil {
			t.Fatal(err)
		}
		order := uuid.NewString()
		cmd := app.ReserveStock{OrderID: order, Cause: uuid.NewString(), Lines: lines}
		if err := crashed.ReserveStock(ctx, cmd); !errors.Is(err, errCrash) {
			t.Fatalf("crash after %d writes: %v", allow, err)
		}
		if r := f.reservation(t, order); r.Status() != reservation.StatusRequested {
			t.Fatalf("status after crash %v", r.Status())
		}
		// After the restart: the recovery path and the redelivery both resume.
		if err := f.app.ResumeReservation(ctx, order); err != nil {
			t.Fatal(err)
		}
		if err := f.app.ReserveStock(ctx, cmd); err != nil {
			t.Fatal(err)
		}
		if r := f.reservation(t, order); r.Status() != reservation.StatusReserved {
			t.Fatalf("status after resume %v", r.Status())
		}
		if err := f.app.ReleaseStock(ctx, app.ReleaseStock{OrderID: order, Cause: uuid.NewString()}); err != nil {
			t.Fatal(err)
		}
		for _, l := range lines {
			got := f.stock(t, l.SKU)
			if got != (stock{5, 5, 0, 0}) {
				t.Fatalf("crash after %d: %s %+v", allow, l.SKU, got)
			}
		}
		for _, l := range lines {
			n := 0
			for _, typ := range streamTypes(t, "catalog.product-"+l.SKU) {
				if typ == adapters.EventStockReserved {
					n++
				}
			}
			if want := int(allow) + 1; n != want {
				t.Fatalf("%s reserved %d times over %d orders", l.SKU, n, want)
			}
		}
	}
}

// TestHotSKU: many orders at once for little stock; exactly the stock is
// reserved, every other order fails, nothing is oversold.
func TestHotSKU(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	hot, other := f.stocked(t, 10), f.stocked(t, 1000)
	const orders, workers = 100, 8

	ids := make(chan string, orders)
	for range orders {
		ids <- uuid.NewString()
	}
	close(ids)
	var wg sync.WaitGroup
	errs := make(chan error, orders)
	for range workers {
		wg.Go(func() {
			for id := range ids {
				cmd := app.ReserveStock{OrderID: id, Cause: uuid.NewString(),
					Lines: []reservation.Line{{SKU: other, Quantity: 1}, {SKU: hot, Quantity: 1}}}
				if err := f.app.ReserveStock(ctx, cmd); err != nil {
					errs <- err
					continue
				}
				// A second, concurrent driver of the same order changes nothing.
				if err := f.app.ResumeReservation(ctx, id); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := f.stock(t, hot); got != (stock{10, 0, 10, 0}) {
		t.Fatalf("hot %+v", got)
	}
	if got := f.stock(t, other); got != (stock{1000, 990, 10, 0}) {
		t.Fatalf("other %+v", got)
	}
}

func TestConcurrentDriversOfOneOrder(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	a, b := f.stocked(t, 3), f.stocked(t, 3)
	for range 10 {
		order := uuid.NewString()
		cmd := app.ReserveStock{OrderID: order, Cause: uuid.NewString(), Lines: []reservation.Line{{SKU: a, Quantity: 1}, {SKU: b, Quantity: 1}}}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				if err := f.app.ReserveStock(ctx, cmd); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		st := f.reservation(t, order).Status()
		if st != reservation.StatusReserved && st != reservation.StatusFailed {
			t.Fatalf("status %v", st)
		}
	}
	// Three orders fit; the rest failed and gave everything back.
	if got := f.stock(t, a); got != (stock{3, 0, 3, 0}) {
		t.Fatalf("a %+v", got)
	}
	if got := f.stock(t, b); got != (stock{3, 0, 3, 0}) {
		t.Fatalf("b %+v", got)
	}
}

// TestBeginCommitStock: the commit's intent is durable when BeginCommitStock
// returns and nothing is committed on the products yet; the rest commits
// once, however often it runs; and a rest that never runs is finished by a
// resume, as the recovery does.
func TestBeginCommitStock(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	s := f.stocked(t, 10)
	reserve := func() string { return f.reserved(t, s, 3) }

	order := reserve()
	rest, err := f.app.BeginCommitStock(ctx, app.CommitStock{OrderID: order, Cause: uuid.NewString()})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{adapters.EventReservationRequested, adapters.EventReservationReserved, adapters.EventReservationCommitStarted}
	if got := streamTypes(t, "catalog.reservation-"+order); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after Begin: stream %v, want %v", got, want)
	}
	if got := f.stock(t, s); got != (stock{10, 7, 3, 0}) {
		t.Fatalf("after Begin %+v: the hold must still be held", got)
	}
	for range 2 { // the second is a rest run again (a redelivery's)
		if err := rest(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if r := f.reservation(t, order); r.Status() != reservation.StatusCommitted {
		t.Fatalf("status %v", r.Status())
	}
	if got := f.stock(t, s); got != (stock{10, 7, 0, 3}) {
		t.Fatalf("after rest %+v", got)
	}

	abandoned := reserve()
	if _, err := f.app.BeginCommitStock(ctx, app.CommitStock{OrderID: abandoned, Cause: uuid.NewString()}); err != nil {
		t.Fatal(err)
	}
	if err := f.app.ResumeReservation(ctx, abandoned); err != nil {
		t.Fatal(err)
	}
	if r := f.reservation(t, abandoned); r.Status() != reservation.StatusCommitted {
		t.Fatalf("abandoned rest, after a resume: status %v", r.Status())
	}
	if got := f.stock(t, s); got != (stock{10, 4, 0, 6}) {
		t.Fatalf("after the resume %+v", got)
	}
}
