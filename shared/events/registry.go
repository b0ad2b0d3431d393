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

// Registry maps versioned type names to event types and upcasts older
// versions to them. Build one with NewRegistry; it is immutable afterwards
// and safe for concurrent use.
type Registry struct {
	types map[string]reflect.Type
	chain *Chain
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
// none are given, upcasting with the chain of Upcasters(). Registering two events with one type name panics: that is
// a programming error found at wiring time.
func NewRegistry(evs ...Event) *Registry {
	if len(evs) == 0 {
		evs = All()
	}
	r := &Registry{types: make(map[string]reflect.Type, len(evs)), chain: NewChain()}
	for _, e := range evs {
		name := e.EventType()
		if _, dup := r.types[name]; dup {
			panic("events: type registered twice: " + name)
		}
		r.types[name] = reflect.TypeOf(e)
	}
	return r
}

// Types returns the registered type names (current versions only).
func (r *Registry) Types() []string {
	out := make([]string, 0, len(r.types))
	for name := range r.types {
		out = append(out, name)
	}
	return out
}

// Current returns the registered type that a payload of eventType decodes
// as, after upcasting, and whether there is one.
func (r *Registry) Current(eventType string) (string, bool) {
	cur := r.chain.Current(eventType)
	_, ok := r.types[cur]
	return cur, ok
}

// Upcast turns a payload of eventType into the current version of its
// event, returning that version's type name and payload (unchanged when
// eventType is current). It does not check that the type is registered.
func (r *Registry) Upcast(eventType string, payload []byte) (string, []byte, error) {
	return r.chain.Upcast(eventType, payload)
}

// Decode parses a JSON payload of the named type, upcasting an older
// version first: a v1 order_placed payload decodes as OrderPlaced (v2).
// Unknown fields are ignored (a newer producer may add optional ones); a
// payload that is not a JSON object of the right shape is an error.
func (r *Registry) Decode(eventType string, payload []byte) (Event, error) {
	if _, ok := r.Current(eventType); !ok {
		return nil, fmt.Errorf("decode %q: %w", eventType, ErrUnknownType)
	}
	cur, payload, err := r.chain.Upcast(eventType, payload)
	if err != nil {
		return nil, fmt.Errorf("decode %q: %w", eventType, err)
	}
	v := reflect.New(r.types[cur])
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
