// Package wallet is the wallet aggregate: a customer's stored money, paid in
// by deposits, taken by debits for orders and given back by credits
// (refunds). Its balance never goes below zero, a payment is debited at most
// once and credited at most once, and a deposit made under an idempotency
// key happens once.
package wallet

import (
	"errors"
	"fmt"
)

// Limits of one deposit, in cents.
const (
	MinDepositCents = 1
	MaxDepositCents = 10_000_000
)

// Errors returned by the wallet's commands.
var (
	// ErrInvalidAmount: an amount outside its allowed range.
	ErrInvalidAmount = errors.New("invalid amount")
	// ErrIdempotencyKeyReused: an idempotency key seen before with a
	// different request.
	ErrIdempotencyKeyReused = errors.New("idempotency key reused with a different request")
	// ErrNotDebited: a credit for a payment the wallet never paid.
	ErrNotDebited = errors.New("payment was not debited from this wallet")
	// ErrMissingID: an empty deposit, payment or order id.
	ErrMissingID = errors.New("missing id")
)

// DebitOutcome is what a debit came to.
type DebitOutcome int

// Debit outcomes.
const (
	// Debited: the wallet paid (now or earlier, for the same payment).
	Debited DebitOutcome = iota + 1
	// Refused: the balance was too low (now or earlier, for the same
	// payment): the decision, once taken, stands.
	Refused
)

type keyed struct {
	depositID   string
	fingerprint string
}

// Wallet is one customer's wallet. Build it with New; it is not safe for
// concurrent use (the repository serialises writers by expected revision).
type Wallet struct {
	customerID string
	balance    int64
	deposits   map[string]bool
	keys       map[string]keyed
	debits     map[string]int64
	refused    map[string]bool
	credits    map[string]bool
	pending    []any
}

// New returns the empty wallet of customerID.
func New(customerID string) *Wallet {
	return &Wallet{
		customerID: customerID,
		deposits:   map[string]bool{},
		keys:       map[string]keyed{},
		debits:     map[string]int64{},
		refused:    map[string]bool{},
		credits:    map[string]bool{},
	}
}

// CustomerID returns the owner's id.
func (w *Wallet) CustomerID() string { return w.customerID }

// BalanceCents returns the balance: deposits - debits + credits.
func (w *Wallet) BalanceCents() int64 { return w.balance }

// Deposit adds amountCents (MinDepositCents..MaxDepositCents) under
// depositID. A depositID already deposited is a no-op. With an idempotency
// key, a key seen before returns the deposit it made (same fingerprint) or
// ErrIdempotencyKeyReused (different fingerprint); the returned id is the
// deposit that stands for this request.
func (w *Wallet) Deposit(depositID string, amountCents int64, idempotencyKey, fingerprint string) (string, error) {
	if depositID == "" {
		return "", fmt.Errorf("deposit: %w", ErrMissingID)
	}
	if idempotencyKey != "" {
		if k, ok := w.keys[idempotencyKey]; ok {
			if k.fingerprint != fingerprint {
				return "", fmt.Errorf("deposit: %w", ErrIdempotencyKeyReused)
			}
			return k.depositID, nil
		}
	}
	if amountCents < MinDepositCents || amountCents > MaxDepositCents {
		return "", fmt.Errorf("deposit %d cents: %w (want %d..%d)", amountCents, ErrInvalidAmount, MinDepositCents, MaxDepositCents)
	}
	if w.deposits[depositID] {
		return depositID, nil
	}
	w.record(FundsDeposited{CustomerID: w.customerID, DepositID: depositID, AmountCents: amountCents,
		BalanceCents: w.balance + amountCents, IdempotencyKey: idempotencyKey, Fingerprint: fingerprint})
	return depositID, nil
}

// Debit pays amountCents (0 or more) for payment paymentID of orderID if
// the balance allows it, or records the refusal. A payment is decided once:
// asking again returns the first outcome and records nothing.
func (w *Wallet) Debit(paymentID, orderID string, amountCents int64) (DebitOutcome, error) {
	if paymentID == "" || orderID == "" {
		return 0, fmt.Errorf("debit: %w", ErrMissingID)
	}
	if amountCents < 0 {
		return 0, fmt.Errorf("debit %d cents: %w", amountCents, ErrInvalidAmount)
	}
	if _, ok := w.debits[paymentID]; ok {
		return Debited, nil
	}
	if w.refused[paymentID] {
		return Refused, nil
	}
	if w.balance < amountCents {
		w.record(DebitRefused{CustomerID: w.customerID, PaymentID: paymentID, OrderID: orderID,
			AmountCents: amountCents, BalanceCents: w.balance})
		return Refused, nil
	}
	w.record(WalletDebited{CustomerID: w.customerID, PaymentID: paymentID, OrderID: orderID,
		AmountCents: amountCents, BalanceCents: w.balance - amountCents})
	return Debited, nil
}

// Credit gives back the debit of paymentID in full. Crediting a payment
// twice is a no-op; crediting one never debited is ErrNotDebited.
func (w *Wallet) Credit(paymentID, orderID string) error {
	amount, ok := w.debits[paymentID]
	if !ok {
		return fmt.Errorf("credit %s: %w", paymentID, ErrNotDebited)
	}
	if w.credits[paymentID] {
		return nil
	}
	w.record(WalletCredited{CustomerID: w.customerID, PaymentID: paymentID, OrderID: orderID,
		AmountCents: amount, BalanceCents: w.balance + amount})
	return nil
}

// Debited reports whether payment paymentID was paid from this wallet.
func (w *Wallet) Debited(paymentID string) bool {
	_, ok := w.debits[paymentID]
	return ok
}

// Credited reports whether payment paymentID was given back.
func (w *Wallet) Credited(paymentID string) bool { return w.credits[paymentID] }

// ApplyEvent folds a stored event into the state; it never validates.
func (w *Wallet) ApplyEvent(e any) { w.apply(e) }

// PendingEvents returns the events recorded since the wallet was loaded.
func (w *Wallet) PendingEvents() []any { return w.pending }

// ClearPendingEvents forgets the recorded events once they are saved, so
// the wallet can record the next ones.
func (w *Wallet) ClearPendingEvents() { w.pending = nil }

func (w *Wallet) record(e any) {
	w.apply(e)
	w.pending = append(w.pending, e)
}

func (w *Wallet) apply(e any) {
	switch e := e.(type) {
	case FundsDeposited:
		w.balance += e.AmountCents
		w.deposits[e.DepositID] = true
		if e.IdempotencyKey != "" {
			w.keys[e.IdempotencyKey] = keyed{depositID: e.DepositID, fingerprint: e.Fingerprint}
		}
	case WalletDebited:
		w.balance -= e.AmountCents
		w.debits[e.PaymentID] = e.AmountCents
	case DebitRefused:
		w.refused[e.PaymentID] = true
	case WalletCredited:
		w.balance += e.AmountCents
		w.credits[e.PaymentID] = true
	}
}
