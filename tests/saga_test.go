package tests

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/troupe-dev/troupe/cmd/troupe/invariant"
	"github.com/troupe-dev/troupe/cmd/troupe/stack"
	catalogadapters "github.com/troupe-dev/troupe/contexts/catalog/adapters"
	catalogapp "github.com/troupe-dev/troupe/contexts/catalog/app"
	"github.com/troupe-dev/troupe/contexts/catalog/domain/product"
	"github.com/troupe-dev/troupe/contexts/catalog/domain/reservation"
	"github.com/troupe-dev/troupe/contexts/payments/domain/payment"
	"github.com/troupe-dev/troupe/embedded/psp"
	"github.com/troupe-dev/troupe/shared/events"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
	"github.com/troupe-dev/troupe/shared/platform/messaging"
	"github.com/troupe-dev/troupe/shared/platform/testinfra"
)

// wantStock waits for sku's stock to become want: catalog gives stock back
// (a release, or the undo after a failed reservation) asynchronously, after
// ordering may already have reached its terminal state.
func wantStock(t *testing.T, p *platform, sku string, want invariant.Stock) {
	t.Helper()
	var got invariant.Stock
	p.waitFor(t, "stock of "+sku, func() bool {
		got = p.stock(t, sku)
		return got == want
	}, func() string { return fmt.Sprintf("stock of %s = %+v, want %+v", sku, got, want) })
}

func TestSagaHappyPathWallet(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, p *platform) {
		sku, customer := id("HAPPY"), id("c")
		p.listProduct(t, sku, 250, 5)
		p.deposit(t, customer, 1000)
		order := p.place(t, customer, events.PaymentMethodWallet, orderLine{sku, 2})
		v := p.waitSettled(t, order)
		if v.status != "CONFIRMED" || v.captures != 1 || v.refunds != 0 || v.committed != 1 || v.confirmedEvents != 1 {
			t.Fatalf("order %s", v)
		}
		wantStock(t, p, sku, invariant.Stock{Received: 5, Available: 3, Committed: 2})
		if b := p.balance(t, customer); b != 500 {
			t.Fatalf("balance %d, want 500", b)
		}
		if code := p.cancel(t, customer, order); code != http.StatusConflict {
			t.Fatalf("cancel after confirmation: %d, want 409", code)
		}
	})
}

func TestSagaHappyPathCard(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, p *platform) {
		p.sim.RLock()
		defer p.sim.RUnlock()
		sku, customer := id("CARD"), id("c")
		p.listProduct(t, sku, 1999, 3)
		order := p.place(t, customer, events.PaymentMethodCard, orderLine{sku, 3})
		v := p.waitSettled(t, order)
		if v.status != "CONFIRMED" || v.captures != 1 || v.committed != 1 {
			t.Fatalf("order %s", v)
		}
		wantStock(t, p, sku, invariant.Stock{Received: 3, Committed: 3})
	})
}

func TestSagaOutOfStock(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, p *platform) {
		a, b, customer := id("OOS"), id("OOS"), id("c")
		p.listProduct(t, a, 100, 5)
		p.listProduct(t, b, 100, 1)
		p.deposit(t, customer, 10_000)
		// All lines or none: the first line fits, the second does not.
		order := p.place(t, customer, events.PaymentMethodWallet, orderLine{a, 2}, orderLine{b, 2})
		v := p.waitSettled(t, order)
		if v.status != "CANCELLED" || v.reason != events.ReasonOutOfStock || v.captures != 0 || v.reserved != 0 {
			t.Fatalf("order %s", v)
		}
		wantStock(t, p, a, invariant.Stock{Received: 5, Available: 5})
		wantStock(t, p, b, invariant.Stock{Received: 1, Available: 1})
		if bal := p.balance(t, customer); bal != 10_000 {
			t.Fatalf("balance %d", bal)
		}
	})
}

func TestSagaInsufficientFunds(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, p *platform) {
		sku, customer := id("POOR"), id("c")
		p.listProduct(t, sku, 250, 5)
		p.deposit(t, customer, 100)
		order := p.place(t, customer, events.PaymentMethodWallet, orderLine{sku, 1})
		v := p.waitSettled(t, order)
		if v.status != "CANCELLED" || v.reason != events.ReasonPaymentFailed || v.failReason != events.ReasonInsufficientFunds ||
			v.captures != 0 || v.released != 1 {
			t.Fatalf("order %s", v)
		}
		wantStock(t, p, sku, invariant.Stock{Received: 5, Available: 5})
		if b := p.balance(t, customer); b != 100 {
			t.Fatalf("balance %d, want 100", b)
		}
	})
}

func TestSagaCardDeclined(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, p *platform) {
		p.sim.Lock()
		defer p.sim.Unlock()
		p.setSim(t, psp.Settings{DeclineRate: 1})
		defer p.setSim(t, psp.Settings{})
		sku, customer := id("DECL"), id("c")
		p.listProduct(t, sku, 500, 2)
		order := p.place(t, customer, events.PaymentMethodCard, orderLine{sku, 1})
		v := p.waitSettled(t, order)
		if v.status != "CANCELLED" || v.failReason != events.ReasonCardDeclined || v.captures != 0 || v.released != 1 {
			t.Fatalf("order %s", v)
		}
		wantStock(t, p, sku, invariant.Stock{Received: 2, Available: 2})
	})
}

// TestSagaGatewayDown: with the gateway down, card payments fail with
// gateway_unavailable until the breaker opens; then they fail at once
// without calling the gateway; once it is back and the breaker's open
// time has passed, a card order is captured again and the breaker closes.
func TestSagaGatewayDown(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, p *platform) {
		p.sim.Lock()
		defer p.sim.Unlock()
		sku, customer := id("DOWN"), id("c")
		p.listProduct(t, sku, 100, 50)
		p.setSim(t, psp.Settings{Down: true})
		restored := false
		defer func() {
			if !restored {
				p.setSim(t, psp.Settings{})
			}
		}()
		for i := 0; p.st.BreakerState() != "open"; i++ {
			if i == 10 {
				t.Fatalf("breaker still %q after %d failed orders", p.st.BreakerState(), i)
			}
			v := p.waitSettled(t, p.place(t, customer, events.PaymentMethodCard, orderLine{sku, 1}))
			if v.status != "CANCELLED" || v.failReason != events.ReasonGatewayUnavailable || v.captures != 0 {
				t.Fatalf("order with the gateway down: %s", v)
			}
		}
		calls := p.st.PSP().Calls("POST /payments")
		start := time.Now()
		v := p.waitSettled(t, p.place(t, customer, events.PaymentMethodCard, orderLine{sku, 1}))
		if v.status != "CANCELLED" || v.failReason != events.ReasonGatewayUnavailable {
			t.Fatalf("order with the breaker open: %s", v)
		}
		// Within the open time no call may reach the gateway. A slower
		// saga (a loaded machine) may outlast it, and then one half-open
		// probe is the breaker working as designed.
		took := time.Since(start)
		if got := p.st.PSP().Calls("POST /payments"); got != calls && took < breakerOpenTimeout {
			t.Fatalf("breaker open, yet the gateway was called %d times within %v", got-calls, took)
		}
		t.Logf("%s: breaker open, order failed in %v", p.name, took)

		p.setSim(t, psp.Settings{})
		restored = true
		time.Sleep(breakerOpenTimeout + 200*time.Millisecond)
		v = p.waitSettled(t, p.place(t, customer, events.PaymentMethodCard, orderLine{sku, 1}))
		if v.status != "CONFIRMED" || v.captures != 1 {
			t.Fatalf("order after recovery: %s", v)
		}
		if s := p.st.BreakerState(); s != "closed" {
			t.Fatalf("breaker %q after a successful call, want closed", s)
		}
	})
}

// TestSagaCancelBeforeCapture: with payments stopped, the order is reserved,
// the customer cancels it, and payments, back, never captures.
func TestSagaCancelBeforeCapture(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, p *platform) {
		p.services.Lock()
		defer p.services.Unlock()
		sku, customer := id("CXL"), id("c")
		p.listProduct(t, sku, 300, 4)
		p.deposit(t, customer, 1000)
		ctx := context.Background()
		if err := p.st.Stop(ctx, stack.Payments); err != nil {
			t.Fatal(err)
		}
		resumed := false
		defer func() {
			if !resumed {
				_ = p.st.Resume(stack.Payments)
			}
		}()
		order := p.place(t, customer, events.PaymentMethodWallet, orderLine{sku, 2})
		p.waitFor(t, "reservation", func() bool { return p.order(t, order).reserved == 1 })
		if code := p.cancel(t, customer, order); code != http.StatusAccepted {
			t.Fatalf("cancel: %d", code)
		}
		if code := p.cancel(t, customer, order); code != http.StatusAccepted {
			t.Fatalf("second cancel: %d, want 202 again", code)
		}
		if err := p.st.Resume(stack.Payments); err != nil {
			t.Fatal(err)
		}
		resumed = true
		v := p.waitSettled(t, order)
		if v.status != "CANCELLED" || v.reason != events.ReasonCustomerRequested || v.released != 1 {
			t.Fatalf("order %s", v)
		}
		// Payments has now seen placed, reserved and cancelled; give it a
		// moment to (wrongly) capture before looking. The three arrive on two
		// topics, so after the resume payments may see stock_reserved before
		// the cancellation and capture: then the design wants exactly one
		// refund. (That a known cancellation prevents a capture is proven by
		// payments' own app tests, where the order of arrival is fixed.)
		time.Sleep(time.Second)
		p.waitFor(t, "no capture, or a capture and its refund", func() bool {
			v := p.order(t, order)
			return v.captures == v.refunds
		})
		if v := p.order(t, order); v.captures > 1 || v.refunds != v.captures {
			t.Fatalf("cancelled order: %s; want no capture, or one capture and one refund", v)
		}
		wantStock(t, p, sku, invariant.Stock{Received: 4, Available: 4})
		if b := p.balance(t, customer); b != 1000 {
			t.Fatalf("balance %d, want 1000", b)
		}
	})
}

// TestSagaCancelAfterCapture: the card capture happened but ordering has
// not confirmed yet (it is stopped); the customer cancels: refunded at the
// gateway, stock released.
func TestSagaCancelAfterCapture(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, p *platform) {
		p.services.Lock()
		defer p.services.Unlock()
		// A slow gateway holds the capture back long enough to stop ordering
		// before payment_captured reaches it.
		p.sim.Lock()
		defer p.sim.Unlock()
		p.setSim(t, psp.Settings{LatencyMs: 1500})
		defer p.setSim(t, psp.Settings{})
		sku, customer := id("REF"), id("c")
		p.listProduct(t, sku, 300, 4)
		order := p.place(t, customer, events.PaymentMethodCard, orderLine{sku, 1})
		// The relay has published order_placed once catalog has acted on it.
		p.waitFor(t, "catalog to see the order", func() bool { return len(p.stream(t, "catalog.reservation-"+order)) > 0 })
		ctx := context.Background()
		if err := p.st.Stop(ctx, stack.Ordering); err != nil {
			t.Fatal(err)
		}
		resumed := false
		defer func() {
			if !resumed {
				_ = p.st.Resume(stack.Ordering)
			}
		}()
		p.waitFor(t, "capture", func() bool { return p.order(t, order).captures == 1 })
		if v := p.order(t, order); v.status == "CONFIRMED" {
			t.Skip("ordering confirmed before it was stopped (a race of this setup); nothing to cancel")
		}
		if code := p.cancel(t, customer, order); code != http.StatusAccepted {
			t.Fatalf("cancel after capture: %d, want 202", code)
		}
		if err := p.st.Resume(stack.Ordering); err != nil {
			t.Fatal(err)
		}
		resumed = true
		v := p.waitSettled(t, order)
		if v.status != "CANCELLED" || v.captures != 1 || v.refunds != 1 || v.released != 1 || v.confirmedEvents != 0 {
			t.Fatalf("order %s", v)
		}
		wantStock(t, p, sku, invariant.Stock{Received: 4, Available: 4})
	})
}

// TestSagaDuplicateOrderPlaced: the relay's order_placed message delivered
// a second time (same key, value and headers) acts once.
func TestSagaDuplicateOrderPlaced(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, p *platform) {
		sku, customer := id("DUP"), id("c")
		p.listProduct(t, sku, 100, 10)
		p.deposit(t, customer, 1000)
		order := p.place(t, customer, events.PaymentMethodWallet, orderLine{sku, 3})
		if v := p.waitSettled(t, order); v.status != "CONFIRMED" {
			t.Fatalf("order %s", v)
		}
		m := p.relayed(t, messaging.TopicFor(events.ContextOrdering), "ordering.order-"+order, events.TypeOrderPlaced)
		p.republish(t, m)
		// A second, later order on the same SKU and customer: once it has
		// settled, the duplicate (published before it) has been consumed.
		later := p.place(t, customer, events.PaymentMethodWallet, orderLine{sku, 1})
		p.waitSettled(t, later)
		time.Sleep(500 * time.Millisecond)
		v := p.order(t, order)
		if v.reserved != 1 || v.captures != 1 || v.committed != 1 || v.confirmedEvents != 1 {
			t.Fatalf("after the duplicate: %s", v)
		}
		wantStock(t, p, sku, invariant.Stock{Received: 10, Available: 6, Committed: 4})
		if b := p.balance(t, customer); b != 600 {
			t.Fatalf("balance %d, want 600 (debited once per order)", b)
		}
	})
}

// TestSagaStockReservedFirst: payments receives stock_reserved before
// order_placed (ordering is stopped, so order_placed is not yet published
// when a stock_reserved for the order reaches payments); it waits for the
// placement, then captures exactly once, even when catalog's own
// stock_reserved follows.
func TestSagaStockReservedFirst(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, p *platform) {
		p.services.Lock()
		defer p.services.Unlock()
		sku, customer := id("EARLY"), id("c")
		p.listProduct(t, sku, 200, 5)
		p.deposit(t, customer, 1000)
		ctx := context.Background()
		if err := p.st.Stop(ctx, stack.Ordering); err != nil {
			t.Fatal(err)
		}
		resumed := false
		defer func() {
			if !resumed {
				_ = p.st.Resume(stack.Ordering)
			}
		}()
		order := p.place(t, customer, events.PaymentMethodWallet, orderLine{sku, 2})
		p.publishAs(t, "catalog.reservation-"+order, events.StockReserved{OrderID: order, Lines: []events.Line{{SKU: sku, Quantity: 2}}})
		time.Sleep(time.Second) // payments consumes the early reservation
		if v := p.order(t, order); v.captures != 0 {
			t.Fatalf("captured before the order was known: %s", v)
		}
		if err := p.st.Resume(stack.Ordering); err != nil {
			t.Fatal(err)
		}
		resumed = true
		v := p.waitSettled(t, order)
		if v.status != "CONFIRMED" || v.captures != 1 {
			t.Fatalf("order %s", v)
		}
		if b := p.balance(t, customer); b != 600 {
			t.Fatalf("balance %d, want 600", b)
		}
	})
}

// crashingProducts fails every product write after the first allow: the
// catalog crashing between the reservation intent and the last product
// write.
type crashingProducts struct {
	catalogapp.Repository[*product.Product]
	allow atomic.Int32
}

var errCrash = errors.New("simulated crash")

func (c *crashingProducts) Update(ctx context.Context, id string, fn func(*product.Product) error) (eventstore.Result, error) {
	if c.allow.Add(-1) < 0 {
		return eventstore.Result{}, errCrash
	}
	return c.Repository.Update(ctx, id, fn)
}

// TestSagaCatalogCrash: catalog is stopped; the order's first delivery is
// handled by a catalog that crashes after its first product write; a new
// catalog instance resumes it (redelivery and recovery) and nothing is
// reserved twice.
func TestSagaCatalogCrash(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, p *platform) {
		p.services.Lock()
		defer p.services.Unlock()
		a, b, c, customer := id("CRA"), id("CRB"), id("CRC"), id("c")
		for _, s := range []string{a, b, c} {
			p.listProduct(t, s, 100, 5)
		}
		p.deposit(t, customer, 10_000)
		ctx := context.Background()
		if err := p.st.Stop(ctx, stack.Catalog); err != nil {
			t.Fatal(err)
		}
		resumed := false
		defer func() {
			if !resumed {
				_ = p.st.Resume(stack.Catalog)
			}
		}()
		order := p.place(t, customer, events.PaymentMethodWallet, orderLine{a, 1}, orderLine{b, 2}, orderLine{c, 3})
		m := p.relayed(t, messaging.TopicFor(events.ContextOrdering), "ordering.order-"+order, events.TypeOrderPlaced)
		var cause string
		for _, h := range m.Headers {
			if string(h.Key) == messaging.HeaderEventID {
				cause = string(h.Value)
			}
		}
		evs := catalogadapters.Events()
		products, err := catalogadapters.NewProductRepository(p.st.EventStore(), evs, 50)
		if err != nil {
			t.Fatal(err)
		}
		reservations, err := catalogadapters.NewReservationRepository(p.st.EventStore(), evs, 50)
		if err != nil {
			t.Fatal(err)
		}
		crashing := &crashingProducts{Repository: products}
		crashing.allow.Store(1)
		crashed, err := catalogapp.New(catalogapp.Config{Products: crashing, Reservations: reservations})
		if err != nil {
			t.Fatal(err)
		}
		err = crashed.ReserveStock(ctx, catalogapp.ReserveStock{OrderID: order, Cause: cause,
			Lines: []reservation.Line{{SKU: a, Quantity: 1}, {SKU: b, Quantity: 2}, {SKU: c, Quantity: 3}}})
		if !errors.Is(err, errCrash) {
			t.Fatalf("crashing reservation: %v", err)
		}
		if got := p.stock(t, a).Reserved + p.stock(t, b).Reserved + p.stock(t, c).Reserved; got == 0 || got == 6 {
			t.Fatalf("after the crash %d units are held; want a partial reservation", got)
		}
		if err := p.st.Resume(stack.Catalog); err != nil {
			t.Fatal(err)
		}
		resumed = true
		v := p.waitSettled(t, order)
		if v.status != "CONFIRMED" || v.reserved != 1 || v.captures != 1 {
			t.Fatalf("order %s", v)
		}
		wantStock(t, p, a, invariant.Stock{Received: 5, Available: 4, Committed: 1})
		wantStock(t, p, b, invariant.Stock{Received: 5, Available: 3, Committed: 2})
		wantStock(t, p, c, invariant.Stock{Received: 5, Available: 2, Committed: 3})
	})
}

// TestSagaConcurrentOrdersForScarceStock: 100 orders at once for a SKU with
// stock 10: exactly 10 confirmed, none oversold.
func TestSagaConcurrentOrdersForScarceStock(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, p *platform) {
		sku := id("HOT")
		p.listProduct(t, sku, 100, 10)
		const n = 100
		customers := make([]string, n)
		for i := range customers {
			customers[i] = id("c")
			p.deposit(t, customers[i], 1000)
		}
		orders := make([]string, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { orders[i] = p.place(t, customers[i], events.PaymentMethodWallet, orderLine{sku, 1}) })
		}
		wg.Wait()
		confirmed, cancelled := 0, 0
		for _, o := range orders {
			v := p.waitSettled(t, o)
			switch {
			case v.status == "CONFIRMED":
				confirmed++
			case v.reason == events.ReasonOutOfStock:
				cancelled++
			default:
				t.Errorf("order %s: %s", o, v)
			}
		}
		if confirmed != 10 || cancelled != n-10 {
			t.Fatalf("%d confirmed, %d out of stock; want 10 and %d", confirmed, cancelled, n-10)
		}
		wantStock(t, p, sku, invariant.Stock{Received: 10, Committed: 10})
	})
}

// TestSagaTimeout: with a 1.5 s order deadline and a gateway that answers
// after 3 s, the order is cancelled with timeout, its stock released, and
// the capture that lands afterwards is refunded. The design's topic and
// group names are fixed, so a platform with a short deadline cannot share
// a broker with the other scenarios' platform: it runs on a broker of its
// own, a dedicated real Kafka 4.x (under make test) and kfake.
func TestSagaTimeout(t *testing.T) {
	t.Parallel()
	testinfra.ForEachRestartableKafka(t, func(t *testing.T, k testinfra.RestartableKafka) {
		t.Parallel()
		cfg := testStackConfig(t.TempDir(), k.Brokers())
		cfg.OrderTimeout = 1500 * time.Millisecond
		cfg.PSPTimeout = 5 * time.Second
		p := startPlatform(t, "timeout", cfg)
		t.Cleanup(func() { _ = p.st.Close() })
		sagaTimeout(t, p)
	})
}

func sagaTimeout(t *testing.T, p *platform) {
	p.setSim(t, psp.Settings{LatencyMs: 3000})
	// The late capture needs the charge to reach the gateway before the
	// 1.5 s deadline. On a loaded machine an order on a fresh stack can
	// take longer than that to reach payments (the CI run of 0a70285 did,
	// on its dedicated real broker); then the right outcome is a
	// cancellation with nothing charged, which is checked, and the test
	// tries again with a new order on the now warm stack.
	const attempts = 3
	for attempt := 1; ; attempt++ {
		sku, customer := id("SLOW"), id("c")
		p.listProduct(t, sku, 700, 3)
		order := p.place(t, customer, events.PaymentMethodCard, orderLine{sku, 2})
		var (
			v        orderView
			captured bool // a capture started before payments saw the cancellation
		)
		p.waitFor(t, "timeout, release and refund (or a cancellation before any capture)", func() bool {
			v = p.order(t, order)
			if v.status != "CANCELLED" || v.released != 1 {
				return false
			}
			captured = paymentCaptureStarted(t, p, order)
			if captured {
				return v.captures == 1 && v.refunds == 1
			}
			return paymentCancellationNoted(t, p, order) && v.captures == 0 && v.refunds == 0
		}, func() string { return v.String() })
		if v.reason != events.ReasonTimeout || v.confirmedEvents != 0 {
			t.Fatalf("order %s", v)
		}
		wantStock(t, p, sku, invariant.Stock{Received: 3, Available: 3})
		if captured {
			if n := p.st.PSP().Refunds(); n != 1 {
				t.Fatalf("gateway refunds %d, want 1", n)
			}
			return
		}
		if n := p.st.PSP().Refunds(); n != 0 {
			t.Fatalf("gateway refunds %d for an order never charged, want 0", n)
		}
		t.Logf("attempt %d: the deadline passed before payments started the capture; order %s cancelled with nothing charged", attempt, order)
		if attempt == attempts {
			t.Fatalf("in %d orders the deadline always passed before payments started the capture", attempts)
		}
	}
}

// paymentCaptureStarted reports whether the payment of orderID recorded
// the start of a capture.
func paymentCaptureStarted(t testing.TB, p *platform, orderID string) bool {
	return slices.Contains(p.eventTypes(t, "payments.payment-"+orderID), payment.TypeCaptureStarted)
}

// paymentCancellationNoted reports whether the payment of orderID noted
// the order's cancellation.
func paymentCancellationNoted(t testing.TB, p *platform, orderID string) bool {
	return slices.Contains(p.eventTypes(t, "payments.payment-"+orderID), payment.TypeCancellationNoted)
}

// TestSagaRefundThroughGatewayOutage: a card capture, then the customer
// cancels while the gateway is down for longer than the payments
// subscriber's retry budget, so the cancellation goes to payments.dlq;
// once the gateway is back payments' recovery must still refund it, once.
func TestSagaRefundThroughGatewayOutage(t *testing.T) {
	t.Parallel()
	p := ownPlatform(t, nil)
	p.setSim(t, psp.Settings{LatencyMs: 1500})
	sku, customer := id("OUT"), id("c")
	p.listProduct(t, sku, 300, 2)
	order := p.place(t, customer, events.PaymentMethodCard, orderLine{sku, 1})
	p.waitFor(t, "catalog to see the order", func() bool { return len(p.stream(t, "catalog.reservation-"+order)) > 0 })
	if err := p.st.Stop(context.Background(), stack.Ordering); err != nil {
		t.Fatal(err)
	}
	p.waitFor(t, "capture", func() bool { return p.order(t, order).captures == 1 })
	p.setSim(t, psp.Settings{Down: true})
	if code := p.cancel(t, customer, order); code != http.StatusAccepted {
		t.Fatalf("cancel: %d", code)
	}
	if err := p.st.Resume(stack.Ordering); err != nil {
		t.Fatal(err)
	}
	p.waitFor(t, "release", func() bool { return p.order(t, order).released == 1 })
	time.Sleep(3 * time.Second) // longer than the retry budget of the test stack
	// The subscriber gave up on the cancellation: only payments' recovery
	// (not a redrive) can finish the refund from here.
	p.waitFor(t, "the cancellation in payments.dlq", func() bool {
		return p.topicKeys(t, messaging.DLQTopic("payments"))["ordering.order-"+order]
	})
	if v := p.order(t, order); v.refunds != 0 {
		t.Fatalf("refunded while the gateway is down: %s", v)
	}
	p.setSim(t, psp.Settings{})
	v := p.waitSettled(t, order)
	if v.refunds != 1 || p.st.PSP().Refunds() != 1 {
		t.Fatalf("order %s, gateway refunds %d", v, p.st.PSP().Refunds())
	}
}
