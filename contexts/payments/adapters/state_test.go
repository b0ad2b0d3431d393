package adapters_test

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"os"
	"reflect"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/troupe-dev/troupe/contexts/payments/adapters"
	"github.com/troupe-dev/troupe/contexts/payments/domain/payment"
	"github.com/troupe-dev/troupe/contexts/payments/domain/wallet"
	esserver "github.com/troupe-dev/troupe/embedded/eventstore"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

// forEachStore runs fn against the embedded event store and, when
// TROUPE_TEST_EVENTSTORE_URL names one, a real KurrentDB.
func forEachStore(t *testing.T, fn func(t *testing.T, client *esdb.Client)) {
	t.Run("embedded", func(t *testing.T) {
		srv, err := esserver.Start(context.Background(), esserver.Config{DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = srv.Close() })
		fn(t, dial(t, srv.URL()))
	})
	t.Run("kurrentdb", func(t *testing.T) {
		url := os.Getenv("TROUPE_TEST_EVENTSTORE_URL")
		if url == "" {
			t.Skip("TROUPE_TEST_EVENTSTORE_URL is not set")
		}
		fn(t, dial(t, url))
	})
}

// uniqueID is an aggregate id no other test uses.
func uniqueID(base string) string { return base + "-" + rand.Text() }

func dial(t *testing.T, url string) *esdb.Client {
	t.Helper()
	c, err := eventstore.Dial(url, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestStateAtFoldsWalletsAndPaymentsToARevision writes a wallet's and a
// payment's history through payments' repositories and checks the state
// StateAt gives at several revisions, past the end included.
func TestStateAtFoldsWalletsAndPaymentsToARevision(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, client *esdb.Client) {
		ctx := context.Background()
		customer, order := uniqueID("c"), uniqueID("o")
		wallets, err := adapters.NewWalletRepository(client, adapters.Events(), nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, step := range []func(*wallet.Wallet) error{
			func(w *wallet.Wallet) error { _, err := w.Deposit("d1", 100, "k1", "f1"); return err },
			func(w *wallet.Wallet) error { _, err := w.Deposit("d2", 50, "", ""); return err },
			func(w *wallet.Wallet) error { _, err := w.Debit("p1", order, 120); return err },
		} {
			if _, err := wallets.Update(ctx, customer, step); err != nil {
				t.Fatal(err)
			}
		}
		stream := wallets.Stream(customer)
		at := func(rev uint64) *adapters.WalletState {
			t.Helper()
			s, ok, err := adapters.StateAt(ctx, client, stream, rev)
			if err != nil || !ok {
				t.Fatalf("StateAt(%s, %d) = %v, %v", stream, rev, ok, err)
			}
			return s.(*adapters.WalletState)
		}
		want0 := &adapters.WalletState{CustomerID: customer, BalanceCents: 100, Deposits: []string{"d1"},
			IdempotencyKeys: map[string]string{"k1": "d1"}, Debits: map[string]int64{}, Refused: []string{}, Credits: []string{}}
		if got := at(0); !reflect.DeepEqual(got, want0) {
			t.Fatalf("wallet at 0 = %+v\nwant %+v", got, want0)
		}
		if got := at(2); got.BalanceCents != 30 || got.Debits["p1"] != 120 || len(got.Deposits) != 2 {
			t.Fatalf("wallet at 2 = %+v", got)
		}
		if got := at(99); got.BalanceCents != 30 {
			t.Fatalf("wallet past the end = %+v, want the last state", got)
		}

		payments, err := adapters.NewPaymentRepository(client, adapters.Events(), nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, step := range []func(*payment.Payment) error{
			func(p *payment.Payment) error {
				return p.RecordOrder("e1", customer, 120, "EUR", payment.MethodWallet)
			},
			func(p *payment.Payment) error { p.NoteStockReserved("e2"); return nil },
			func(p *payment.Payment) error { return p.StartCapture("p1") },
			func(p *payment.Payment) error { return p.RecordCaptured("") },
		} {
			if _, err := payments.Update(ctx, order, step); err != nil {
				t.Fatal(err)
			}
		}
		s, ok, err := adapters.StateAt(ctx, client, payments.Stream(order), 1)
		if err != nil || !ok {
			t.Fatalf("payment at 1: %v, %v", ok, err)
		}
		if got := s.(*adapters.PaymentState); got.Status != "open" || got.Next != "start_capture" || !got.StockReserved || got.AmountCents != 120 {
			t.Fatalf("payment at 1 = %+v", got)
		}
		s, _, err = adapters.StateAt(ctx, client, payments.Stream(order), 3)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.(*adapters.PaymentState); got.Status != "captured" || got.PaymentID != "p1" || got.Next != "none" {
			t.Fatalf("payment at 3 = %+v", got)
		}
	})
}

// TestStateAtRefusals: streams of other contexts are not payments' (ok
// false), a missing stream is ErrNotFound, a malformed id ErrInvalidID.
func TestStateAtRefusals(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, client *esdb.Client) {
		ctx := context.Background()
		for _, stream := range []string{"ordering.order-x", "troupe.checkpoint-relay", "payments.walletx-1", "$all"} {
			if s, ok, err := adapters.StateAt(ctx, client, stream, 0); ok || err != nil || s != nil {
				t.Errorf("StateAt(%s) = %v, %v, %v; want not payments'", stream, s, ok, err)
			}
		}
		if _, ok, err := adapters.StateAt(ctx, client, "payments.wallet-"+uniqueID("none"), 0); !ok || !errors.Is(err, eventstore.ErrNotFound) {
			t.Errorf("missing wallet: %v, %v; want ErrNotFound", ok, err)
		}
		if _, ok, err := adapters.StateAt(ctx, client, "payments.payment-a b", 0); !ok || !errors.Is(err, eventstore.ErrInvalidID) {
			t.Errorf("malformed id: %v, %v; want ErrInvalidID", ok, err)
		}
	})
}
