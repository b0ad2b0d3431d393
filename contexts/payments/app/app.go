// Package app holds payments' application layer: the deposit command and
// the policies that react to ordering's and catalog's events by driving a
// payment to its capture, failure or refund.
package app

import (
	"context"
	"errors"
	"sync"

	"github.com/troupe-dev/troupe/contexts/payments/domain/payment"
	"github.com/troupe-dev/troupe/contexts/payments/domain/wallet"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

// WalletRepository loads, changes and saves wallets by customer id; the
// event-store repository satisfies it.
type WalletRepository interface {
	Update(ctx context.Context, customerID string, fn func(*wallet.Wallet) error) (eventstore.Result, error)
	Stream(customerID string) string
}

// PaymentRepository loads, changes and saves payments by order id; the
// event-store repository satisfies it.
type PaymentRepository interface {
	Update(ctx context.Context, orderID string, fn func(*payment.Payment) error) (eventstore.Result, error)
	Stream(orderID string) string
}

// ErrGatewayUnavailable is returned by a CardGateway that could not get an
// answer (breaker open, outage, retries exhausted): the payment fails with
// gateway_unavailable.
var ErrGatewayUnavailable = errors.New("card gateway unavailable")

// CardCharge is one card payment asked of the gateway.
type CardCharge struct {
	// PaymentID is the idempotency key: asking again returns the first result.
	PaymentID   string
	AmountCents int64
	Currency    string
	// Reference is the order id, for the gateway's records.
	Reference string
}

// CardResult is the gateway's answer to a charge.
type CardResult struct {
	// GatewayID is the gateway's id of the payment.
	GatewayID string
	// Captured is false when the card was declined.
	Captured bool
}

// CardGateway is the external card payment gateway. Implementations must be
// safe for concurrent use and idempotent by payment id.
type CardGateway interface {
	// Charge asks for a capture; ErrGatewayUnavailable when no answer came.
	Charge(ctx context.Context, c CardCharge) (CardResult, error)
	// Refund gives a captured charge back, once per payment id however
	// often it is asked.
	Refund(ctx context.Context, paymentID, gatewayID string, amountCents int64) error
}

// Application is payments' use cases. It is safe for concurrent use.
type Application struct {
	wallets  WalletRepository
	payments PaymentRepository
	gateway  CardGateway
	currency string
	locks    keyedMutex
}

// New returns the application over its repositories and the card gateway;
// currency is the deployment's, used when an order names none.
func New(wallets WalletRepository, payments PaymentRepository, gateway CardGateway, currency string) *Application {
	return &Application{wallets: wallets, payments: payments, gateway: gateway, currency: currency,
		locks: keyedMutex{m: map[string]*lockEntry{}}}
}

// keyedMutex serialises work on one key (an order) inside this process, so
// that two events of one order handled at once (they come from different
// topics) never drive the same capture side by side; across processes the
// store's expected revisions and the gateway's idempotency keys still hold.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*lockEntry
}

type lockEntry struct {
	mu   sync.Mutex
	refs int
}

func (k *keyedMutex) lock(key string) func() {
	k.mu.Lock()
	e, ok := k.m[key]
	if !ok {
		e = &lockEntry{}
		k.m[key] = e
	}
	e.refs++
	k.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		e.refs--
		if e.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}
