package app_test

import (
	"context"
	"testing"

	"github.com/troupe-dev/troupe/contexts/payments/adapters"
	"github.com/troupe-dev/troupe/contexts/payments/app"
	"github.com/troupe-dev/troupe/contexts/payments/domain/payment"
	"github.com/troupe-dev/troupe/embedded/psp"
	"github.com/troupe-dev/troupe/shared/events"
)

// unavailableGateway answers every charge as a gateway that never
// answered (a timeout with no status, or an open breaker).
type unavailableGateway struct{}

func (unavailableGateway) Charge(context.Context, app.CardCharge) (app.CardResult, error) {
	return app.CardResult{}, app.ErrGatewayUnavailable
}

func (unavailableGateway) Refund(context.Context, string, string, int64) error {
	return app.ErrGatewayUnavailable
}

// heldGateway lets a charge through only once released.
type heldGateway struct {
	app.CardGateway
	entered, release chan struct{}
}

func (g heldGateway) Charge(ctx context.Context, c app.CardCharge) (app.CardResult, error) {
	close(g.entered)
	<-g.release
	return g.CardGateway.Charge(ctx, c)
}

// Two payments instances handle the two facts of one card order at once
// (order_placed and stock_reserved come from different topics, so from
// different partitions and possibly different instances). Both reach the
// capture step; one records a failure because its gateway call went
// unanswered, then the other's charge goes through. The payment stays
// failed and that charge is refunded at the gateway, never kept.
func TestCaptureLandingAfterAnotherInstanceFailedIsRefunded(t *testing.T) {
	t.Parallel()
	f := newFixture(t, adapters.CardGatewayConfig{}, psp.Settings{})
	held := heldGateway{CardGateway: f.gateway, entered: make(chan struct{}), release: make(chan struct{})}
	instanceA := app.New(f.wallets, f.payments, unavailableGateway{}, "EUR")
	instanceB := app.New(f.wallets, f.payments, held, "EUR")
	ctx := context.Background()
	order := id("o")

	must(t, instanceA.OnOrderPlaced(ctx, placed(order, id("c"), 700, events.PaymentMethodCard), cause()))
	bDone := make(chan error, 1)
	go func() { bDone <- instanceB.OnStockReserved(ctx, events.StockReserved{OrderID: order}, cause()) }()
	<-held.entered // B is charging
	must(t, instanceA.Settle(ctx, order))
	if p := f.payment(t, order); p.Status() != payment.StatusFailed {
		t.Fatalf("after A's unanswered charge: status %v, want failed", p.Status())
	}
	close(held.release)
	if err := <-bDone; err != nil {
		t.Fatalf("B's late capture: %v", err)
	}
	if n := count(t, f.payments.Stream(order), payment.PaymentCaptured{}); n != 0 {
		t.Fatalf("%d captures recorded on a failed payment", n)
	}
	if total, captured := f.psp.Payments(); total != 1 || captured != 1 {
		t.Fatalf("gateway payments %d (captured %d), want the one late capture", total, captured)
	}
	if got := f.psp.Refunds(); got != 1 {
		t.Fatalf("gateway refunds = %d, want the late capture refunded once", got)
	}
}
