package wallet

import (
	"errors"
	"reflect"
	"testing"
)

// given folds history into a fresh wallet, as the repository does.
func given(history ...any) *Wallet {
	w := New("c1")
	for _, e := range history {
		w.ApplyEvent(e)
	}
	return w
}

func thenEvents(t *testing.T, w *Wallet, want ...any) {
	t.Helper()
	got := w.PendingEvents()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("events = %#v\nwant %#v", got, want)
	}
}

func deposited(id string, amount, balance int64) FundsDeposited {
	return FundsDeposited{CustomerID: "c1", DepositID: id, AmountCents: amount, BalanceCents: balance}
}

func TestDeposit(t *testing.T) {
	t.Parallel()
	t.Run("adds to the balance", func(t *testing.T) {
		w := given(deposited("d1", 100, 100))
		id, err := w.Deposit("d2", 50, "", "")
		if err != nil || id != "d2" {
			t.Fatalf("deposit = %q, %v", id, err)
		}
		thenEvents(t, w, deposited("d2", 50, 150))
		if w.BalanceCents() != 150 {
			t.Fatalf("balance = %d", w.BalanceCents())
		}
	})
	for _, amount := range []int64{0, -1, MaxDepositCents + 1} {
		w := given()
		if _, err := w.Deposit("d1", amount, "", ""); !errors.Is(err, ErrInvalidAmount) {
			t.Errorf("deposit %d: err = %v, want ErrInvalidAmount", amount, err)
		}
		thenEvents(t, w)
	}
	t.Run("bounds are allowed", func(t *testing.T) {
		w := given()
		if _, err := w.Deposit("d1", MinDepositCents, "", ""); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Deposit("d2", MaxDepositCents, "", ""); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("the same deposit id twice deposits once", func(t *testing.T) {
		w := given(deposited("d1", 100, 100))
		if _, err := w.Deposit("d1", 100, "", ""); err != nil {
			t.Fatal(err)
		}
		thenEvents(t, w)
	})
	t.Run("a missing id is refused", func(t *testing.T) {
		w := given()
		if _, err := w.Deposit("", 100, "", ""); !errors.Is(err, ErrMissingID) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestDepositIdempotencyKey(t *testing.T) {
	t.Parallel()
	first := FundsDeposited{CustomerID: "c1", DepositID: "d1", AmountCents: 100, BalanceCents: 100,
		IdempotencyKey: "alice:k1", Fingerprint: "f1"}
	t.Run("same key, same request: the first deposit, nothing new", func(t *testing.T) {
		w := given(first)
		id, err := w.Deposit("d2", 100, "alice:k1", "f1")
		if err != nil || id != "d1" {
			t.Fatalf("deposit = %q, %v; want d1", id, err)
		}
		thenEvents(t, w)
	})
	t.Run("same key, another request: refused", func(t *testing.T) {
		w := given(first)
		if _, err := w.Deposit("d2", 200, "alice:k1", "f2"); !errors.Is(err, ErrIdempotencyKeyReused) {
			t.Fatalf("err = %v", err)
		}
		thenEvents(t, w)
	})
	t.Run("a new key deposits and remembers it", func(t *testing.T) {
		w := given(first)
		if _, err := w.Deposit("d2", 5, "alice:k2", "f2"); err != nil {
			t.Fatal(err)
		}
		thenEvents(t, w, FundsDeposited{CustomerID: "c1", DepositID: "d2", AmountCents: 5, BalanceCents: 105,
			IdempotencyKey: "alice:k2", Fingerprint: "f2"})
	})
}

func TestDebit(t *testing.T) {
	t.Parallel()
	t.Run("pays when the balance allows", func(t *testing.T) {
		w := given(deposited("d1", 100, 100))
		out, err := w.Debit("p1", "o1", 100)
		if err != nil || out != Debited {
			t.Fatalf("debit = %v, %v", out, err)
		}
		thenEvents(t, w, WalletDebited{CustomerID: "c1", PaymentID: "p1", OrderID: "o1", AmountCents: 100, BalanceCents: 0})
	})
	t.Run("refuses below the balance and never goes negative", func(t *testing.T) {
		w := given(deposited("d1", 99, 99))
		out, err := w.Debit("p1", "o1", 100)
		if err != nil || out != Refused {
			t.Fatalf("debit = %v, %v", out, err)
		}
		thenEvents(t, w, DebitRefused{CustomerID: "c1", PaymentID: "p1", OrderID: "o1", AmountCents: 100, BalanceCents: 99})
		if w.BalanceCents() != 99 {
			t.Fatalf("balance = %d", w.BalanceCents())
		}
	})
	t.Run("a payment is debited once", func(t *testing.T) {
		w := given(deposited("d1", 300, 300),
			WalletDebited{CustomerID: "c1", PaymentID: "p1", OrderID: "o1", AmountCents: 100, BalanceCents: 200})
		out, err := w.Debit("p1", "o1", 100)
		if err != nil || out != Debited {
			t.Fatalf("debit = %v, %v", out, err)
		}
		thenEvents(t, w)
		if w.BalanceCents() != 200 {
			t.Fatalf("balance = %d", w.BalanceCents())
		}
	})
	t.Run("a refusal stands even after a deposit", func(t *testing.T) {
		w := given(DebitRefused{CustomerID: "c1", PaymentID: "p1", OrderID: "o1", AmountCents: 100},
			deposited("d1", 500, 500))
		out, err := w.Debit("p1", "o1", 100)
		if err != nil || out != Refused {
			t.Fatalf("debit = %v, %v", out, err)
		}
		thenEvents(t, w)
	})
	t.Run("bad input", func(t *testing.T) {
		w := given(deposited("d1", 500, 500))
		if _, err := w.Debit("p1", "o1", -1); !errors.Is(err, ErrInvalidAmount) {
			t.Errorf("negative: err = %v", err)
		}
		if _, err := w.Debit("", "o1", 1); !errors.Is(err, ErrMissingID) {
			t.Errorf("no payment id: err = %v", err)
		}
		thenEvents(t, w)
	})
}

func TestCredit(t *testing.T) {
	t.Parallel()
	debited := WalletDebited{CustomerID: "c1", PaymentID: "p1", OrderID: "o1", AmountCents: 100, BalanceCents: 0}
	t.Run("gives the debit back", func(t *testing.T) {
		w := given(deposited("d1", 100, 100), debited)
		if err := w.Credit("p1", "o1"); err != nil {
			t.Fatal(err)
		}
		thenEvents(t, w, WalletCredited{CustomerID: "c1", PaymentID: "p1", OrderID: "o1", AmountCents: 100, BalanceCents: 100})
		if !w.Credited("p1") || w.BalanceCents() != 100 {
			t.Fatalf("credited %v, balance %d", w.Credited("p1"), w.BalanceCents())
		}
	})
	t.Run("once", func(t *testing.T) {
		w := given(deposited("d1", 100, 100), debited,
			WalletCredited{CustomerID: "c1", PaymentID: "p1", OrderID: "o1", AmountCents: 100, BalanceCents: 100})
		if err := w.Credit("p1", "o1"); err != nil {
			t.Fatal(err)
		}
		thenEvents(t, w)
	})
	t.Run("never for a payment not debited", func(t *testing.T) {
		w := given(deposited("d1", 100, 100))
		if err := w.Credit("p9", "o9"); !errors.Is(err, ErrNotDebited) {
			t.Fatalf("err = %v", err)
		}
		thenEvents(t, w)
	})
}
