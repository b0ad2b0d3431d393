package wallet

import (
	"reflect"
	"testing"
)

func TestView(t *testing.T) {
	t.Parallel()
	w := given(
		FundsDeposited{CustomerID: "c1", DepositID: "d2", AmountCents: 300, BalanceCents: 300, IdempotencyKey: "k1", Fingerprint: "f"},
		deposited("d1", 100, 400),
		WalletDebited{CustomerID: "c1", PaymentID: "p1", OrderID: "o1", AmountCents: 250, BalanceCents: 150},
		DebitRefused{CustomerID: "c1", PaymentID: "p2", OrderID: "o2", AmountCents: 900, BalanceCents: 150},
		WalletCredited{CustomerID: "c1", PaymentID: "p1", OrderID: "o1", AmountCents: 250, BalanceCents: 400},
	)
	want := View{
		CustomerID:      "c1",
		BalanceCents:    400,
		Deposits:        []string{"d1", "d2"},
		IdempotencyKeys: map[string]string{"k1": "d2"},
		Debits:          map[string]int64{"p1": 250},
		Refused:         []string{"p2"},
		Credits:         []string{"p1"},
	}
	v := w.View()
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("view = %+v\nwant %+v", v, want)
	}
	v.Debits["p9"] = 1
	if w.Debited("p9") {
		t.Fatal("changing the view changed the wallet")
	}
}
