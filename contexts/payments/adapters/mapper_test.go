package adapters_test

import (
	"encoding/json"
	"testing"

	"github.com/troupe-dev/troupe/contexts/payments/adapters"
	"github.com/troupe-dev/troupe/contexts/payments/domain/payment"
	"github.com/troupe-dev/troupe/contexts/payments/domain/wallet"
	"github.com/troupe-dev/troupe/shared/events"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
	"github.com/troupe-dev/troupe/shared/platform/relay/relaytest"
)

// TestMapperPublishesTheDesignsEventsAndKeepsTheRestPrivate: each public
// domain event maps to its integration event with the design's fields;
// bookkeeping events are not published.
func TestMapperPublishesTheDesignsEventsAndKeepsTheRestPrivate(t *testing.T) {
	t.Parallel()
	reg := adapters.Events()
	m := adapters.NewMapper(reg)
	registry := events.NewRegistry()
	tests := []struct {
		domain any
		want   events.Event
	}{
		{wallet.FundsDeposited{CustomerID: "c", DepositID: "d", AmountCents: 5, BalanceCents: 9}, events.FundsDeposited{CustomerID: "c", AmountCents: 5, BalanceCents: 9}},
		{wallet.WalletDebited{CustomerID: "c", PaymentID: "p", OrderID: "o", AmountCents: 3, BalanceCents: 6}, events.WalletDebited{CustomerID: "c", OrderID: "o", AmountCents: 3, BalanceCents: 6}},
		{wallet.WalletCredited{CustomerID: "c", PaymentID: "p", OrderID: "o", AmountCents: 3, BalanceCents: 9}, events.WalletCredited{CustomerID: "c", OrderID: "o", AmountCents: 3, BalanceCents: 9}},
		{payment.PaymentCaptured{OrderID: "o", CustomerID: "c", PaymentID: "p", AmountCents: 3, Method: payment.MethodCard, GatewayID: "g"},
			events.PaymentCaptured{OrderID: "o", CustomerID: "c", PaymentID: "p", AmountCents: 3, Method: "card"}},
		{payment.PaymentFailed{OrderID: "o", CustomerID: "c", Reason: payment.ReasonCardDeclined}, events.PaymentFailed{OrderID: "o", CustomerID: "c", Reason: "card_declined"}},
		{payment.PaymentRefunded{OrderID: "o", CustomerID: "c", AmountCents: 3}, events.PaymentRefunded{OrderID: "o", CustomerID: "c", AmountCents: 3}},
		{wallet.DebitRefused{CustomerID: "c"}, nil},
		{payment.OrderRecorded{OrderID: "o"}, nil},
		{payment.StockReservedNoted{OrderID: "o"}, nil},
		{payment.CancellationNoted{OrderID: "o"}, nil},
		{payment.CaptureStarted{OrderID: "o"}, nil},
	}
	for _, tt := range tests {
		name, data, err := reg.Encode(tt.domain)
		if err != nil {
			t.Fatal(err)
		}
		ie, ok, err := m.Map(eventstore.RecordedEvent{Type: name, Data: data, Stream: "payments.x-1"})
		if err != nil {
			t.Fatal(err)
		}
		if tt.want == nil {
			if ok {
				t.Errorf("%s was published as %s", name, ie.Type)
			}
			continue
		}
		if !ok || ie.Type != tt.want.EventType() {
			t.Errorf("%s: mapped to %q (ok %v), want %s", name, ie.Type, ok, tt.want.EventType())
			continue
		}
		got, err := registry.Decode(ie.Type, ie.Payload)
		if err != nil {
			t.Fatal(err)
		}
		if g, _ := json.Marshal(got); string(g) != mustJSON(tt.want) {
			t.Errorf("%s: payload %s, want %s", name, g, mustJSON(tt.want))
		}
	}
	if _, _, err := m.Map(eventstore.RecordedEvent{Type: "payments.nope", Data: []byte(`{}`)}); err == nil {
		t.Error("an unknown event type mapped without error")
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestMapperNamesWhatItPublishes(t *testing.T) {
	relaytest.CheckSourceTypes(t, adapters.NewMapper(adapters.Events()), adapters.Events(), "payments.x-1")
}
