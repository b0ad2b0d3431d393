package adapters

import (
	"encoding/json"
	"fmt"

	"github.com/troupe-dev/troupe/contexts/payments/domain/payment"
	"github.com/troupe-dev/troupe/contexts/payments/domain/wallet"
	"github.com/troupe-dev/troupe/shared/events"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
	"github.com/troupe-dev/troupe/shared/platform/relay"
)

// Mapper turns payments' domain events into the integration events of the
// design's table; the bookkeeping events (order recorded, stock reserved
// noted, cancellation noted, capture started, debit refused) stay private.
// It is deterministic and free of side effects, as relay.Mapper requires.
type Mapper struct {
	events *eventstore.Registry
}

// NewMapper returns a Mapper decoding with events (see Events).
func NewMapper(events *eventstore.Registry) *Mapper { return &Mapper{events: events} }

// SourceTypes implements relay.TypedMapper: the domain event types Map
// publishes, so the relay reads nothing else from the store.
func (m *Mapper) SourceTypes() []string {
	return []string{wallet.TypeFundsDeposited, wallet.TypeWalletDebited, wallet.TypeWalletCredited,
		payment.TypePaymentCaptured, payment.TypePaymentFailed, payment.TypePaymentRefunded}
}

// Map implements relay.Mapper.
func (m *Mapper) Map(ev eventstore.RecordedEvent) (relay.Event, bool, error) {
	decoded, err := m.events.Decode(ev.Type, ev.Data)
	if err != nil {
		return relay.Event{}, false, fmt.Errorf("map %s@%d: %w", ev.Stream, ev.Revision, err)
	}
	ie, ok := integrationEvent(decoded)
	if !ok {
		return relay.Event{}, false, nil
	}
	payload, err := json.Marshal(ie)
	if err != nil {
		return relay.Event{}, false, fmt.Errorf("map %s@%d: %w", ev.Stream, ev.Revision, err)
	}
	return relay.Event{Type: ie.EventType(), Payload: payload}, true, nil
}

func integrationEvent(e any) (events.Event, bool) {
	switch e := e.(type) {
	case wallet.FundsDeposited:
		return events.FundsDeposited{CustomerID: e.CustomerID, AmountCents: e.AmountCents, BalanceCents: e.BalanceCents}, true
	case wallet.WalletDebited:
		return events.WalletDebited{CustomerID: e.CustomerID, OrderID: e.OrderID, AmountCents: e.AmountCents, BalanceCents: e.BalanceCents}, true
	case wallet.WalletCredited:
		return events.WalletCredited{CustomerID: e.CustomerID, OrderID: e.OrderID, AmountCents: e.AmountCents, BalanceCents: e.BalanceCents}, true
	case payment.PaymentCaptured:
		return events.PaymentCaptured{OrderID: e.OrderID, CustomerID: e.CustomerID, PaymentID: e.PaymentID,
			AmountCents: e.AmountCents, Method: string(e.Method)}, true
	case payment.PaymentFailed:
		return events.PaymentFailed{OrderID: e.OrderID, CustomerID: e.CustomerID, Reason: string(e.Reason)}, true
	case payment.PaymentRefunded:
		return events.PaymentRefunded{OrderID: e.OrderID, CustomerID: e.CustomerID, AmountCents: e.AmountCents}, true
	}
	return nil, false
}
