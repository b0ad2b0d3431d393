package wallet

// Event type names of the wallet's domain events, namespaced by context and
// aggregate. They are private to payments; the relay maps some of them to
// integration events.
const (
	TypeFundsDeposited = "payments.wallet.funds_deposited"
	TypeWalletDebited  = "payments.wallet.debited"
	TypeDebitRefused   = "payments.wallet.debit_refused"
	TypeWalletCredited = "payments.wallet.credited"
)

// FundsDeposited: money was added to the wallet. IdempotencyKey and
// Fingerprint are set when the deposit came with a client's key, so a
// repeat of that key finds it.
type FundsDeposited struct {
	CustomerID     string
	DepositID      string
	AmountCents    int64
	BalanceCents   int64
	IdempotencyKey string
	Fingerprint    string
}

// WalletDebited: the wallet paid AmountCents for payment PaymentID of order
// OrderID.
type WalletDebited struct {
	CustomerID   string
	PaymentID    string
	OrderID      string
	AmountCents  int64
	BalanceCents int64
}

// DebitRefused: the wallet could not pay for payment PaymentID (insufficient
// funds). Recorded so that a resumed payment reaches the same decision
// whatever the balance has become since.
type DebitRefused struct {
	CustomerID   string
	PaymentID    string
	OrderID      string
	AmountCents  int64
	BalanceCents int64
}

// WalletCredited: the debit of payment PaymentID was given back.
type WalletCredited struct {
	CustomerID   string
	PaymentID    string
	OrderID      string
	AmountCents  int64
	BalanceCents int64
}
