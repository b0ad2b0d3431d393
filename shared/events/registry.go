package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// ErrUnknownType is returned by Registry.Decode for a type it does not hold.
var ErrUnknownType = errors.New("unknown event type")

// Registry maps versioned type names to event types. Build one with
// NewRegistry; it is immutable afterwards and safe for concurrent use.
type Registry struct {
	types map[string]reflect.Type
}

// All returns a zero value of every integration event type, in a stable
// order (catalog, ordering, payments).
func All() []Event {
	return []Event{
		ProductListed{}, ProductRepriced{}, StockReceived{}, StockReserved{},
		StockReservationFailed{}, StockReleased{}, StockCommitted{},
		OrderPlaced{}, OrderConfirmed{}, OrderCancelled{},
		FundsDeposited{}, WalletDebited{}, WalletCredited{},
		PaymentCaptured{}, PaymentFailed{}, PaymentRefunded{},
	}
}

// NewRegistry returns a registry of the given events, or of All() when
// none are given. Registering two events with one type name panics: that is
// a programming error found at wiring time.
func NewRegistry(evs ...Event) *Registry {
	if len(evs) == 0 {
		evs = All()
	}
	r := &Registry{types: make(map[string]reflect.Type, len(evs))}
	for _, e := range evs {
		name := e.EventType()
		if _, dup := r.types[name]; dup {
			panic("events: type registered twice: " + name)
		}
		r.types[name] = reflect.TypeOf(e)
	}
	return r
}

// Types returns the registered type names.
func (r *Registry) Types() []string {
	out := make([]string, 0, len(r.types))
	for name := range r.types {
		out = append(out, name)
	}
	return out
}

// Decode parses a JSON payload of the named type. Unknown fields are
// ignored (a newer producer may add optional ones); a payload that is not a
// JSON object of the right shape is an error.
func (r *Registry) Decode(eventType string, payload []byte) (Event, error) {
	t, ok := r.types[eventType]
	if !ok {
		return nil, fmt.Errorf("decode %q: %w", eventType, ErrUnknownType)
	}
	v := reflect.New(t)
	if err := json.Unmarshal(payload, v.Interface()); err != nil {
		return nil, fmt.Errorf("decode %q: %w", eventType, err)
	}
	return v.Elem().Interface().(Event), nil
}

// ContextOf returns the context that publishes an event type
// ("catalog.stock_reserved.v1" -> "catalog").
func ContextOf(eventType string) string {
	ctx, _, _ := strings.Cut(eventType, ".")
	return ctx
}
