package app_test

import (
	"context"
	"errors"
	"testing"

	"github.com/troupe-dev/troupe/contexts/payments/adapters"
	"github.com/troupe-dev/troupe/contexts/payments/app"
	"github.com/troupe-dev/troupe/contexts/payments/domain/payment"
	"github.com/troupe-dev/troupe/contexts/payments/domain/wallet"
	"github.com/troupe-dev/troupe/embedded/psp"
	"github.com/troupe-dev/troupe/shared/events"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

func TestWalletCaptureNeedsBothFactsInEitherOrderAndActsOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, reservedFirst := range []bool{true, false} {
		f := newFixture(t, adapters.CardGatewayConfig{}, psp.Settings{})
		customer, order := id("c"), id("o")
		f.deposit(t, customer, 1000)
		placedCause, reservedCause := cause(), cause()
		onPlaced := func() error {
			return f.app.OnOrderPlaced(ctx, placed(order, customer, 300, events.PaymentMethodWallet), placedCause)
		}
		onReserved := func() error {
			return f.app.OnStockReserved(ctx, events.StockReserved{OrderID: order, Lines: []events.Line{{SKU: "SKU-1", Quantity: 1}}}, reservedCause)
		}
		first, second := onPlaced, onReserved
		if reservedFirst {
			first, second = onReserved, onPlaced
		}
		must(t, first())
		if f.payment(t, order).Status() != payment.StatusOpen {
			t.Fatalf("reservedFirst=%v: captured on one fact alone", reservedFirst)
		}
		must(t, second())
		stream := f.payments.Stream(order)
		before := len(streamEvents(t, stream))
		// Redelivery of both, in any order, acts never again.
		must(t, onReserved())
		must(t, onPlaced())
		if after := len(streamEvents(t, stream)); after != before {
			t.Fatalf("redelivery appended %d events", after-before)
		}
		if n := count(t, stream, payment.PaymentCaptured{}); n != 1 {
			t.Fatalf("captures = %d, want 1", n)
		}
		w := f.wallet(t, customer)
		if w.BalanceCents() != 700 || count(t, f.wallets.Stream(customer), wallet.WalletDebited{}) != 1 {
			t.Fatalf("balance %d, debits %d", w.BalanceCents(), count(t, f.wallets.Stream(customer), wallet.WalletDebited{}))
		}
		p := f.payment(t, order)
		if p.PaymentID() != app.PaymentID(order) || !w.Debited(p.PaymentID()) {
			t.Fatalf("payment id %q not the wallet's debit", p.PaymentID())
		}
	}
}

func TestInsufficientFundsFailsThePayment(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, adapters.CardGatewayConfig{}, psp.Settings{})
	customer, order := id("c"), id("o")
	f.deposit(t, customer, 299)
	must(t, f.app.OnOrderPlaced(ctx, placed(order, customer, 300, events.PaymentMethodWallet), cause()))
	must(t, f.app.OnStockReserved(ctx, events.StockReserved{OrderID: order}, cause()))
	evs := streamEvents(t, f.payments.Stream(order))
	last, ok := evs[len(evs)-1].(payment.PaymentFailed)
	if !ok || last.Reason != payment.ReasonInsufficientFunds {
		t.Fatalf("last event %#v, want payment failed for insufficient funds", evs[len(evs)-1])
	}
	if b := f.wallet(t, customer).BalanceCents(); b != 299 {
		t.Fatalf("balance = %d, want 299 untouched", b)
	}
	// A deposit afterwards does not turn the decision around.
	f.deposit(t, customer, 1000)
	must(t, f.app.Settle(ctx, order))
	if count(t, f.payments.Stream(order), payment.PaymentCaptured{}) != 0 {
		t.Fatal("captured after failing")
	}
}

func TestNeverCapturesAKnownCancelledOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, adapters.CardGatewayConfig{}, psp.Settings{})
	customer, order := id("c"), id("o")
	f.deposit(t, customer, 1000)
	must(t, f.app.OnOrderCancelled(ctx, events.OrderCancelled{OrderID: order, CustomerID: customer, Reason: events.ReasonTimeout}, cause()))
	must(t, f.app.OnStockReserved(ctx, events.StockReserved{OrderID: order}, cause()))
	must(t, f.app.OnOrderPlaced(ctx, placed(order, customer, 300, events.PaymentMethodWallet), cause()))
	if n := count(t, f.payments.Stream(order), payment.CaptureStarted{}); n != 0 {
		t.Fatalf("capture intents = %d, want 0", n)
	}
	if b := f.wallet(t, customer).BalanceCents(); b != 1000 {
		t.Fatalf("balance = %d", b)
	}
}

func TestWalletCaptureThenCancelIsRefundedOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, adapters.CardGatewayConfig{}, psp.Settings{})
	customer, order := id("c"), id("o")
	f.deposit(t, customer, 1000)
	must(t, f.app.OnOrderPlaced(ctx, placed(order, customer, 300, events.PaymentMethodWallet), cause()))
	must(t, f.app.OnStockReserved(ctx, events.StockReserved{OrderID: order}, cause()))
	cancelled, c := events.OrderCancelled{OrderID: order, CustomerID: customer, Reason: events.ReasonCustomerRequested}, cause()
	must(t, f.app.OnOrderCancelled(ctx, cancelled, c))
	must(t, f.app.OnOrderCancelled(ctx, cancelled, c))
	must(t, f.app.OnOrderCancelled(ctx, cancelled, cause())) // a second, distinct cancellation
	if n := count(t, f.payments.Stream(order), payment.PaymentRefunded{}); n != 1 {
		t.Fatalf("refunds = %d, want 1", n)
	}
	if n := count(t, f.wallets.Stream(customer), wallet.WalletCredited{}); n != 1 {
		t.Fatalf("credits = %d, want 1", n)
	}
	if b := f.wallet(t, customer).BalanceCents(); b != 1000 {
		t.Fatalf("balance = %d, want 1000 after the refund", b)
	}
}

func TestResumesAfterACrashBetweenIntentAndDebit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, adapters.CardGatewayConfig{}, psp.Settings{})
	customer, order := id("c"), id("o")
	f.deposit(t, customer, 1000)
	// The crashed process got as far as the intent and, for the second
	// order, the wallet debit too, but recorded no outcome.
	setup := func(order string) {
		_, err := f.payments.Update(ctx, order, func(p *payment.Payment) error {
			if err := p.RecordOrder("placed", customer, 300, "EUR", payment.MethodWallet); err != nil {
				return err
			}
			p.NoteStockReserved("reserved")
			return p.StartCapture(app.PaymentID(order))
		})
		must(t, err)
	}
	setup(order)
	must(t, f.app.Settle(ctx, order))
	must(t, f.app.Settle(ctx, order))

	order2 := id("o")
	setup(order2)
	intentID := eventstore.EventID("capture-intent:"+app.PaymentID(order2), f.payments.Stream(order2), 0)
	_, err := f.wallets.Update(eventstore.WithEventIDSource(ctx, intentID.String()), customer, func(w *wallet.Wallet) error {
		_, err := w.Debit(app.PaymentID(order2), order2, 300)
		return err
	})
	must(t, err)
	must(t, f.app.Settle(ctx, order2))

	for _, o := range []string{order, order2} {
		if n := count(t, f.payments.Stream(o), payment.PaymentCaptured{}); n != 1 {
			t.Fatalf("%s: captures = %d, want 1", o, n)
		}
	}
	if n := count(t, f.wallets.Stream(customer), wallet.WalletDebited{}); n != 2 {
		t.Fatalf("debits = %d, want 2 (one per order)", n)
	}
	if b := f.wallet(t, customer).BalanceCents(); b != 400 {
		t.Fatalf("balance = %d, want 400", b)
	}
}

func TestDepositIdempotencyKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, adapters.CardGatewayConfig{}, psp.Settings{})
	customer := id("c")
	cmd := app.DepositFunds{CustomerID: customer, AmountCents: 500, Subject: customer, IdempotencyKey: "k-1"}
	first, err := f.app.DepositFunds(ctx, cmd)
	must(t, err)
	again, err := f.app.DepositFunds(ctx, cmd)
	must(t, err)
	if again.DepositID != first.DepositID || again.Revision != first.Revision {
		t.Fatalf("repeat = %+v, want %+v", again, first)
	}
	other := cmd
	other.AmountCents = 600
	if _, err := f.app.DepositFunds(ctx, other); !errors.Is(err, wallet.ErrIdempotencyKeyReused) {
		t.Fatalf("same key, other amount: err = %v", err)
	}
	admin := cmd
	admin.Subject = "admin-1"
	if res, err := f.app.DepositFunds(ctx, admin); err != nil || res.DepositID == first.DepositID {
		t.Fatalf("another subject's key: %+v, %v; want a new deposit", res, err)
	}
	if b := f.wallet(t, customer).BalanceCents(); b != 1000 {
		t.Fatalf("balance = %d, want 1000 (two deposits)", b)
	}
	if _, err := f.app.DepositFunds(ctx, app.DepositFunds{CustomerID: customer, AmountCents: 0}); !errors.Is(err, wallet.ErrInvalidAmount) {
		t.Fatalf("zero amount: err = %v", err)
	}
}

// TestNoteThenSettle: the Note policies record the facts and the capture
// intent but move no money; their rest settles once, however often it
// runs; and a cancellation noted between the two settles the payment
// itself (capture, then refund), leaving the rest nothing to do.
func TestNoteThenSettle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, adapters.CardGatewayConfig{}, psp.Settings{})
	customer, order := id("c"), id("o")
	f.deposit(t, customer, 1000)
	first, err := f.app.NoteOrderPlaced(ctx, placed(order, customer, 300, events.PaymentMethodWallet), cause())
	must(t, err)
	second, err := f.app.NoteStockReserved(ctx, events.StockReserved{OrderID: order}, cause())
	must(t, err)
	if n := count(t, f.payments.Stream(order), payment.CaptureStarted{}); n != 1 {
		t.Fatalf("%d capture intents after both facts, want 1", n)
	}
	if b := f.wallet(t, customer).BalanceCents(); b != 1000 {
		t.Fatalf("balance %d before the rest ran, want 1000", b)
	}
	for _, rest := range []func(context.Context) error{second, first, second} {
		must(t, rest(ctx))
	}
	if n := count(t, f.payments.Stream(order), payment.PaymentCaptured{}); n != 1 {
		t.Fatalf("%d captures, want 1", n)
	}
	if b := f.wallet(t, customer).BalanceCents(); b != 700 {
		t.Fatalf("balance %d, want 700", b)
	}

	cancelled := id("o")
	_, err = f.app.NoteOrderPlaced(ctx, placed(cancelled, customer, 200, events.PaymentMethodWallet), cause())
	must(t, err)
	rest, err := f.app.NoteStockReserved(ctx, events.StockReserved{OrderID: cancelled}, cause())
	must(t, err)
	must(t, f.app.OnOrderCancelled(ctx, events.OrderCancelled{OrderID: cancelled, CustomerID: customer, Reason: "customer"}, cause()))
	must(t, rest(ctx))
	if c, r := count(t, f.payments.Stream(cancelled), payment.PaymentCaptured{}), count(t, f.payments.Stream(cancelled), payment.PaymentRefunded{}); c != 1 || r != 1 {
		t.Fatalf("%d captures and %d refunds of a cancelled order whose intent was recorded, want 1 and 1", c, r)
	}
	if b := f.wallet(t, customer).BalanceCents(); b != 700 {
		t.Fatalf("balance %d after the refund, want 700", b)
	}
}
