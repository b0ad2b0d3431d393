package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/troupe-dev/troupe/contexts/payments/domain/payment"
	"github.com/troupe-dev/troupe/contexts/payments/domain/wallet"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

// maxSteps bounds one settle: intent, capture, refund and a spare.
const maxSteps = 6

// PaymentID is the id of an order's payment: derived from the order id, so
// every process and every retry uses the same one as the gateway's
// idempotency key and the wallet's debit id.
func PaymentID(orderID string) string {
	return eventstore.EventID("payment", "payments.payment-"+orderID, 0).String()
}

// view is what settle needs of a payment, copied out of an Update.
type view struct {
	next      payment.Step
	customer  string
	amount    int64
	currency  string
	method    payment.Method
	paymentID string
	gatewayID string
}

// Settle resumes whatever the order's payment still needs done (capture
// intent, capture, refund). Policies call it after each fact; it is also
// what a restart or a redelivery resumes with.
func (a *Application) Settle(ctx context.Context, orderID string) error {
	unlock := a.locks.lock(orderID)
	defer unlock()
	return a.settle(ctx, orderID)
}

// settle runs with the order's lock held. Each step appends with event ids
// derived from the payment id and the step, so a step repeated after a lost
// answer or a crash is a duplicate at the store.
func (a *Application) settle(ctx context.Context, orderID string) error {
	v, err := a.update(ctx, orderID, nil)
	if err != nil {
		return fmt.Errorf("load payment of %s: %w", orderID, err)
	}
	return a.settleFrom(ctx, orderID, v)
}

// settleFrom is settle from v, the payment as the caller's last update of
// it left it. Each step hands on the payment as its own update left it, so
// no step reloads it.
func (a *Application) settleFrom(ctx context.Context, orderID string, v view) error {
	for range maxSteps {
		var err error
		switch v.next {
		case payment.StepNone:
			return nil
		case payment.StepStartCapture:
			v, err = a.startCapture(ctx, orderID)
		case payment.StepCapture:
			v, err = a.capture(ctx, orderID, v)
		case payment.StepRefund:
			v, err = a.refund(ctx, orderID, v)
		}
		if err != nil {
			return err
		}
	}
	return fmt.Errorf("settle payment of %s: no end after %d steps", orderID, maxSteps)
}

// update runs fn (nil: nothing) in an update of the payment of orderID and
// returns the payment as it left it.
func (a *Application) update(ctx context.Context, orderID string, fn func(*payment.Payment) error) (view, error) {
	var v view
	_, err := a.payments.Update(ctx, orderID, func(p *payment.Payment) error {
		if fn != nil {
			if err := fn(p); err != nil {
				return err
			}
		}
		v = view{next: p.Next(), customer: p.CustomerID(), amount: p.AmountCents(), currency: p.Currency(),
			method: p.Method(), paymentID: p.PaymentID(), gatewayID: p.GatewayID()}
		return nil
	})
	return v, err
}

// startCaptureIfDue records the capture intent in the same append as the
// fact that made it due, saving a write on the saga's path. The intent's
// event id then derives from that fact's, which is as deterministic.
func startCaptureIfDue(p *payment.Payment, orderID string) error {
	if p.Next() != payment.StepStartCapture {
		return nil
	}
	return p.StartCapture(PaymentID(orderID))
}

func intentSource(paymentID string) string { return "capture-intent:" + paymentID }

func (a *Application) startCapture(ctx context.Context, orderID string) (view, error) {
	paymentID := PaymentID(orderID)
	ctx = eventstore.WithEventIDSource(ctx, intentSource(paymentID))
	v, err := a.update(ctx, orderID, func(p *payment.Payment) error {
		if p.Next() != payment.StepStartCapture {
			return nil // a concurrent writer moved it on (a cancellation, another process)
		}
		return p.StartCapture(paymentID)
	})
	if err != nil {
		return v, fmt.Errorf("start capture of %s: %w", orderID, err)
	}
	return v, nil
}

func (a *Application) capture(ctx context.Context, orderID string, v view) (view, error) {
	var (
		gatewayID string
		reason    payment.Reason
	)
	switch v.method {
	case payment.MethodWallet:
		// The debit's event id derives from the intent's, so the wallet
		// write is tied to this one capture whatever retries it.
		intentID := eventstore.EventID(intentSource(v.paymentID), a.payments.Stream(orderID), 0)
		var outcome wallet.DebitOutcome
		_, err := a.wallets.Update(eventstore.WithEventIDSource(ctx, intentID.String()), v.customer, func(w *wallet.Wallet) error {
			var err error
			outcome, err = w.Debit(v.paymentID, orderID, v.amount)
			return err
		})
		if err != nil {
			return v, fmt.Errorf("debit wallet of %s for %s: %w", v.customer, orderID, err)
		}
		if outcome == wallet.Refused {
			reason = payment.ReasonInsufficientFunds
		}
	case payment.MethodCard:
		res, err := a.gateway.Charge(ctx, CardCharge{PaymentID: v.paymentID, AmountCents: v.amount,
			Currency: v.currency, Reference: orderID})
		switch {
		case errors.Is(err, ErrGatewayUnavailable):
			reason = payment.ReasonGatewayUnavailable
		case err != nil:
			return v, fmt.Errorf("charge card for %s: %w", orderID, err)
		case !res.Captured:
			reason = payment.ReasonCardDeclined
		default:
			gatewayID = res.GatewayID
		}
	default:
		return v, fmt.Errorf("capture %s: unknown method %q", orderID, v.method)
	}
	ctx = eventstore.WithEventIDSource(ctx, "capture-outcome:"+v.paymentID)
	var lateCapture bool
	next, err := a.update(ctx, orderID, func(p *payment.Payment) error {
		lateCapture = false
		// Another process (another payments instance handling the other
		// fact of this order) may have recorded the outcome meanwhile.
		switch {
		case reason != "" && p.Status() == payment.StatusCaptured:
			return nil // its capture stands; the gateway's key made it the only one
		case reason == "" && p.Status() == payment.StatusFailed:
			// It failed (its gateway call timed out unanswered, or its
			// breaker was open) while this charge went through: the
			// payment stays failed, so the money goes back.
			lateCapture = true
			return nil
		case reason != "":
			return p.RecordFailed(reason)
		}
		return p.RecordCaptured(gatewayID)
	})
	if err != nil {
		return v, fmt.Errorf("record capture outcome of %s: %w", orderID, err)
	}
	if lateCapture {
		// Nothing in the payment's stream asks for this refund, so a
		// redelivery would not retry it: the gateway client's own retries
		// are its only chance; a failure is logged for an operator.
		if err := a.gateway.Refund(ctx, v.paymentID, gatewayID, v.amount); err != nil {
			slog.ErrorContext(ctx, "payments: refunding a card capture that landed after the payment failed did not succeed; refund it by hand",
				"order", orderID, "payment", v.paymentID, "gateway_id", gatewayID, "error", err)
			return next, nil
		}
		slog.WarnContext(ctx, "payments: a card capture landed after the payment had failed; refunded it at the gateway",
			"order", orderID, "payment", v.paymentID)
	}
	return next, nil
}

func (a *Application) refund(ctx context.Context, orderID string, v view) (view, error) {
	switch v.method {
	case payment.MethodWallet:
		intentID := eventstore.EventID(intentSource(v.paymentID), a.payments.Stream(orderID), 0)
		_, err := a.wallets.Update(eventstore.WithEventIDSource(ctx, "refund:"+intentID.String()), v.customer, func(w *wallet.Wallet) error {
			return w.Credit(v.paymentID, orderID)
		})
		if err != nil {
			return v, fmt.Errorf("credit wallet of %s for %s: %w", v.customer, orderID, err)
		}
	case payment.MethodCard:
		if err := a.gateway.Refund(ctx, v.paymentID, v.gatewayID, v.amount); err != nil {
			return v, fmt.Errorf("refund card payment of %s: %w", orderID, err)
		}
	}
	ctx = eventstore.WithEventIDSource(ctx, "refund-outcome:"+v.paymentID)
	next, err := a.update(ctx, orderID, func(p *payment.Payment) error { return p.RecordRefunded() })
	if err != nil {
		return v, fmt.Errorf("record refund of %s: %w", orderID, err)
	}
	return next, nil
}
