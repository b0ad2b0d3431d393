package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/troupe-dev/troupe/contexts/payments/adapters"
	"github.com/troupe-dev/troupe/contexts/payments/domain/payment"
	"github.com/troupe-dev/troupe/embedded/psp"
	"github.com/troupe-dev/troupe/shared/events"
)

// payCard drives one card order to its outcome and returns the payment's
// last event.
func (f *fixture) payCard(t *testing.T, order string, amount int64) any {
	t.Helper()
	ctx := context.Background()
	must(t, f.app.OnOrderPlaced(ctx, placed(order, id("c"), amount, events.PaymentMethodCard), cause()))
	must(t, f.app.OnStockReserved(ctx, events.StockReserved{OrderID: order}, cause()))
	evs := streamEvents(t, f.payments.Stream(order))
	return evs[len(evs)-1]
}

func failedWith(t *testing.T, last any, want payment.Reason) {
	t.Helper()
	if f, ok := last.(payment.PaymentFailed); !ok || f.Reason != want {
		t.Fatalf("last event %#v, want payment failed with %s", last, want)
	}
}

func TestCardCapturedAndDeclined(t *testing.T) {
	t.Parallel()
	f := newFixture(t, adapters.CardGatewayConfig{}, psp.Settings{})
	if c, ok := f.payCard(t, id("o"), 500).(payment.PaymentCaptured); !ok || c.GatewayID == "" || c.Method != payment.MethodCard {
		t.Fatalf("last event %#v, want a card capture with the gateway's id", c)
	}
	must(t, f.psp.SetSettings(psp.Settings{DeclineRate: 1}))
	failedWith(t, f.payCard(t, id("o"), 500), payment.ReasonCardDeclined)
}

func TestSlowGatewayIsAskedForTheStatusAndCapturesOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, adapters.CardGatewayConfig{Timeout: 100 * time.Millisecond}, psp.Settings{LatencyMs: 400})
	order := id("o")
	if _, ok := f.payCard(t, order, 500).(payment.PaymentCaptured); !ok {
		t.Fatal("the slow payment was not captured")
	}
	if total, captured := f.psp.Payments(); total != 1 || captured != 1 {
		t.Fatalf("gateway payments %d (captured %d), want exactly one", total, captured)
	}
	if f.psp.Calls("GET /payments") == 0 {
		t.Fatal("no status query after the timeout")
	}
	if n := count(t, f.payments.Stream(order), payment.PaymentCaptured{}); n != 1 {
		t.Fatalf("captures = %d", n)
	}
}

func TestGatewayDownOpensTheBreakerFailsFastAndRecovers(t *testing.T) {
	t.Parallel()
	f := newFixture(t, adapters.CardGatewayConfig{MaxAttempts: 2, BreakerFailures: 4, BreakerOpenTimeout: 300 * time.Millisecond,
		RetryInitial: time.Millisecond, RetryMax: 2 * time.Millisecond}, psp.Settings{Down: true})
	// Two orders of two failed calls each open the breaker.
	failedWith(t, f.payCard(t, id("o"), 500), payment.ReasonGatewayUnavailable)
	failedWith(t, f.payCard(t, id("o"), 500), payment.ReasonGatewayUnavailable)
	if got := f.gateway.BreakerState(); got != "open" {
		t.Fatalf("breaker %s after 4 failures, want open", got)
	}
	calls := f.psp.Calls("POST /payments")
	start := time.Now()
	failedWith(t, f.payCard(t, id("o"), 500), payment.ReasonGatewayUnavailable)
	if f.psp.Calls("POST /payments") != calls {
		t.Fatal("the open breaker let a call through")
	}
	if took := time.Since(start); took > 250*time.Millisecond {
		t.Fatalf("failing with the breaker open took %v", took)
	}
	// The gateway recovers; after the open period one trial call closes it.
	must(t, f.psp.SetSettings(psp.Settings{}))
	time.Sleep(350 * time.Millisecond)
	if _, ok := f.payCard(t, id("o"), 500).(payment.PaymentCaptured); !ok {
		t.Fatal("not captured after the gateway recovered")
	}
	if got := f.gateway.BreakerState(); got != "closed" {
		t.Fatalf("breaker %s after a successful trial, want closed", got)
	}
}

func TestCardCaptureThenCancelIsRefundedOnceAtTheGateway(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, adapters.CardGatewayConfig{}, psp.Settings{})
	order := id("o")
	if _, ok := f.payCard(t, order, 500).(payment.PaymentCaptured); !ok {
		t.Fatal("not captured")
	}
	cancelled, c := events.OrderCancelled{OrderID: order, Reason: events.ReasonTimeout}, cause()
	must(t, f.app.OnOrderCancelled(ctx, cancelled, c))
	must(t, f.app.OnOrderCancelled(ctx, cancelled, c))
	if f.psp.Refunds() != 1 {
		t.Fatalf("gateway refunds = %d, want 1", f.psp.Refunds())
	}
	if n := count(t, f.payments.Stream(order), payment.PaymentRefunded{}); n != 1 {
		t.Fatalf("refunds recorded = %d, want 1", n)
	}
}
