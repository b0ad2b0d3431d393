package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/google/uuid"

	"github.com/troupe-dev/troupe/contexts/payments/domain/wallet"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

// DepositFunds asks to add money to a customer's wallet.
type DepositFunds struct {
	CustomerID  string
	AmountCents int64
	// Subject is the caller (the token's subject): idempotency keys are
	// scoped to it.
	Subject string
	// IdempotencyKey, when set, makes a repeat of the same request return
	// the first deposit, and a different request under it fail with
	// wallet.ErrIdempotencyKeyReused.
	IdempotencyKey string
}

// DepositResult is the deposit that stands for a DepositFunds and where the
// wallet's stream stands after it.
type DepositResult struct {
	DepositID string
	Stream    string
	Revision  uint64
}

// DepositFunds deposits into the wallet (creating it on first use). Errors:
// wallet.ErrInvalidAmount, wallet.ErrIdempotencyKeyReused,
// eventstore.ErrInvalidID for a malformed customer id.
func (a *Application) DepositFunds(ctx context.Context, cmd DepositFunds) (DepositResult, error) {
	depositID := uuid.NewString()
	var scopedKey, fingerprint string
	if cmd.IdempotencyKey != "" {
		scopedKey = cmd.Subject + "\x00" + cmd.IdempotencyKey
		// The same key derives the same deposit and event ids, so two
		// requests racing with one key make one deposit at the store too.
		depositID = eventstore.EventID("deposit-key:"+scopedKey, a.wallets.Stream(cmd.CustomerID), 0).String()
		ctx = eventstore.WithEventIDSource(ctx, "deposit:"+depositID)
		sum := sha256.Sum256([]byte(cmd.CustomerID + "\x00" + strconv.FormatInt(cmd.AmountCents, 10)))
		fingerprint = hex.EncodeToString(sum[:])
	}
	var standing string
	res, err := a.wallets.Update(ctx, cmd.CustomerID, func(w *wallet.Wallet) error {
		id, err := w.Deposit(depositID, cmd.AmountCents, scopedKey, fingerprint)
		standing = id
		return err
	})
	if err != nil {
		return DepositResult{}, fmt.Errorf("deposit into the wallet of %s: %w", cmd.CustomerID, err)
	}
	return DepositResult{DepositID: standing, Stream: res.Stream, Revision: res.Revision}, nil
}
