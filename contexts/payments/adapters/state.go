package adapters

import (
	"context"
	"strings"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/troupe-dev/troupe/contexts/payments/domain/payment"
	"github.com/troupe-dev/troupe/contexts/payments/domain/wallet"
)

// WalletState is the JSON view of a wallet that StateAt returns.
type WalletState struct {
	CustomerID      string            `json:"customerId"`
	BalanceCents    int64             `json:"balanceCents"`
	Deposits        []string          `json:"deposits"`
	IdempotencyKeys map[string]string `json:"idempotencyKeys"`
	Debits          map[string]int64  `json:"debits"`
	Refused         []string          `json:"refused"`
	Credits         []string          `json:"credits"`
}

// PaymentState is the JSON view of a payment that StateAt returns.
type PaymentState struct {
	OrderID       string `json:"orderId"`
	CustomerID    string `json:"customerId"`
	AmountCents   int64  `json:"amountCents"`
	Currency      string `json:"currency"`
	Method        string `json:"method"`
	OrderRecorded bool   `json:"orderRecorded"`
	StockReserved bool   `json:"stockReserved"`
	Cancelled     bool   `json:"cancelled"`
	Status        string `json:"status"`
	PaymentID     string `json:"paymentId,omitempty"`
	GatewayID     string `json:"gatewayId,omitempty"`
	Refunded      bool   `json:"refunded"`
	Next          string `json:"next"`
}

// StateAt folds the payments aggregate whose stream is stream
// (payments.wallet-<customerId> or payments.payment-<orderId>) up to and
// including revision, with payments' own repositories and events, and
// returns a JSON-marshalable view of it (*WalletState or *PaymentState).
// ok is false, with no error, when stream is not a payments aggregate. A
// missing stream is an error wrapping eventstore.ErrNotFound; an id outside
// [A-Za-z0-9_-]{1,64} one wrapping eventstore.ErrInvalidID. It only reads.
func StateAt(ctx context.Context, client *esdb.Client, stream string, revision uint64) (state any, ok bool, err error) {
	if id, found := strings.CutPrefix(stream, WalletCategory+"-"); found {
		repo, err := NewWalletRepository(client, Events(), nil)
		if err != nil {
			return nil, true, err
		}
		w, _, err := repo.LoadAt(ctx, id, revision)
		if err != nil {
			return nil, true, err
		}
		return walletState(w.View()), true, nil
	}
	if id, found := strings.CutPrefix(stream, PaymentCategory+"-"); found {
		repo, err := NewPaymentRepository(client, Events(), nil)
		if err != nil {
			return nil, true, err
		}
		p, _, err := repo.LoadAt(ctx, id, revision)
		if err != nil {
			return nil, true, err
		}
		return paymentState(p.View()), true, nil
	}
	return nil, false, nil
}

func walletState(v wallet.View) *WalletState {
	return &WalletState{
		CustomerID: v.CustomerID, BalanceCents: v.BalanceCents, Deposits: v.Deposits,
		IdempotencyKeys: v.IdempotencyKeys, Debits: v.Debits, Refused: v.Refused, Credits: v.Credits,
	}
}

func paymentState(v payment.View) *PaymentState {
	return &PaymentState{
		OrderID: v.OrderID, CustomerID: v.CustomerID, AmountCents: v.AmountCents, Currency: v.Currency,
		Method: string(v.Method), OrderRecorded: v.OrderRecorded, StockReserved: v.StockReserved,
		Cancelled: v.Cancelled, Status: v.Status.String(), PaymentID: v.PaymentID, GatewayID: v.GatewayID,
		Refunded: v.Refunded, Next: v.Next.String(),
	}
}
