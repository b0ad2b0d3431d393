// Package adapters holds payments' outbound adapters: the event-store
// repositories of its aggregates and their event registry, the relay's
// mapper from domain events to integration events, and the card gateway
// client.
package adapters

import (
	"log/slog"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/troupe-dev/troupe/contexts/payments/domain/payment"
	"github.com/troupe-dev/troupe/contexts/payments/domain/wallet"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

// Stream categories of payments' aggregates (DESIGN.md, "Streams").
const (
	WalletCategory  = "payments.wallet"
	PaymentCategory = "payments.payment"
)

// Events returns a registry of every domain event of payments under its
// namespaced type name. Domain events carry no struct tags, so they are
// stored with their Go field names.
func Events() *eventstore.Registry {
	r := eventstore.NewRegistry()
	eventstore.Register[wallet.FundsDeposited](r, wallet.TypeFundsDeposited)
	eventstore.Register[wallet.WalletDebited](r, wallet.TypeWalletDebited)
	eventstore.Register[wallet.DebitRefused](r, wallet.TypeDebitRefused)
	eventstore.Register[wallet.WalletCredited](r, wallet.TypeWalletCredited)
	eventstore.Register[payment.OrderRecorded](r, payment.TypeOrderRecorded)
	eventstore.Register[payment.StockReservedNoted](r, payment.TypeStockReservedNoted)
	eventstore.Register[payment.CancellationNoted](r, payment.TypeCancellationNoted)
	eventstore.Register[payment.CaptureStarted](r, payment.TypeCaptureStarted)
	eventstore.Register[payment.PaymentCaptured](r, payment.TypePaymentCaptured)
	eventstore.Register[payment.PaymentFailed](r, payment.TypePaymentFailed)
	eventstore.Register[payment.PaymentRefunded](r, payment.TypePaymentRefunded)
	return r
}

// NewWalletRepository returns the repository of wallets (streams
// payments.wallet-<customerId>). It is safe for concurrent use.
func NewWalletRepository(client *esdb.Client, events *eventstore.Registry, logger *slog.Logger) (*eventstore.Repository[*wallet.Wallet], error) {
	return eventstore.NewRepository(client, eventstore.RepositoryConfig[*wallet.Wallet]{
		Category: WalletCategory, New: wallet.New, Events: events, Logger: logger,
		// A wallet grows by an event or two per order and has no
		// snapshots: keep busy ones.
		Cache: &eventstore.CacheConfig{},
	})
}

// NewPaymentRepository returns the repository of payments (streams
// payments.payment-<orderId>). It is safe for concurrent use.
func NewPaymentRepository(client *esdb.Client, events *eventstore.Registry, logger *slog.Logger) (*eventstore.Repository[*payment.Payment], error) {
	return eventstore.NewRepository(client, eventstore.RepositoryConfig[*payment.Payment]{
		Category: PaymentCategory, New: payment.New, Events: events, Logger: logger,
		// A payment is written several times in a row as it settles.
		Cache: &eventstore.CacheConfig{},
	})
}
