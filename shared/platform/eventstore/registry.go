package eventstore

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
)

// Codec turns one Go event type into bytes and back. The default, from
// [Register], is encoding/json; adapters that keep struct tags out of the
// domain map to their own DTOs with [RegisterCodec].
type Codec[E any] struct {
	// Marshal encodes the event as JSON.
	Marshal func(E) ([]byte, error)
	// Unmarshal decodes what Marshal wrote.
	Unmarshal func([]byte) (E, error)
}

type entry struct {
	name      string
	marshal   func(any) ([]byte, error)
	unmarshal func([]byte) (any, error)
}

// Registry maps event type names (namespaced, e.g.
// "catalog.product.stock_reserved") to Go types and their encodings. It is
// built at wiring time and passed to whoever needs it; registration is not
// safe for concurrent use, lookups are once registration is done.
type Registry struct {
	byName map[string]*entry
	byType map[reflect.Type]*entry
}

// NewRegistry returns an empty Registry.
func NewRegistry() *Registry {
	return &Registry{byName: map[string]*entry{}, byType: map[reflect.Type]*entry{}}
}

// Register maps name to the Go type E (a value type, not a pointer) with JSON
// encoding. It panics when name or E is already registered: that is a wiring
// mistake, found at start-up.
func Register[E any](r *Registry, name string) {
	RegisterCodec(r, name, Codec[E]{
		Marshal: func(e E) ([]byte, error) { return json.Marshal(e) },
		Unmarshal: func(b []byte) (E, error) {
			var e E
			err := json.Unmarshal(b, &e)
			return e, err
		},
	})
}

// RegisterCodec maps name to the Go type E with the given codec. It panics
// when name or E is already registered, or the codec is incomplete.
func RegisterCodec[E any](r *Registry, name string, c Codec[E]) {
	t := reflect.TypeFor[E]()
	if name == "" || c.Marshal == nil || c.Unmarshal == nil {
		panic(fmt.Sprintf("eventstore: incomplete registration of %v as %q", t, name))
	}
	if _, dup := r.byName[name]; dup {
		panic(fmt.Sprintf("eventstore: event type %q registered twice", name))
	}
	if _, dup := r.byType[t]; dup {
		panic(fmt.Sprintf("eventstore: Go type %v registered twice", t))
	}
	e := &entry{
		name:      name,
		marshal:   func(v any) ([]byte, error) { return c.Marshal(v.(E)) },
		unmarshal: func(b []byte) (any, error) { return c.Unmarshal(b) },
	}
	r.byName[name] = e
	r.byType[t] = e
}

// Names returns every registered type name, sorted.
func (r *Registry) Names() []string { return slices.Sorted(maps.Keys(r.byName)) }

// Name returns the registered type name of event, which may be a value of a
// registered type or a pointer to one.
func (r *Registry) Name(event any) (string, bool) {
	e, _, ok := r.lookup(event)
	if !ok {
		return "", false
	}
	return e.name, true
}

// Encode returns the type name and JSON of event (a registered type or a
// pointer to one), or an error wrapping ErrUnknownEventType.
func (r *Registry) Encode(event any) (name string, data []byte, err error) {
	e, v, ok := r.lookup(event)
	if !ok {
		return "", nil, fmt.Errorf("encode %T: %w", event, ErrUnknownEventType)
	}
	data, err = e.marshal(v)
	if err != nil {
		return "", nil, fmt.Errorf("encode %s: %w", e.name, err)
	}
	return e.name, data, nil
}

// Decode returns the event of type name decoded from data, as a value of the
// registered Go type, or an error wrapping ErrUnknownEventType.
func (r *Registry) Decode(name string, data []byte) (any, error) {
	e, ok := r.byName[name]
	if !ok {
		return nil, fmt.Errorf("decode %q: %w", name, ErrUnknownEventType)
	}
	v, err := e.unmarshal(data)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", name, err)
	}
	return v, nil
}

func (r *Registry) lookup(event any) (*entry, any, bool) {
	if event == nil {
		return nil, nil, false
	}
	if e, ok := r.byType[reflect.TypeOf(event)]; ok {
		return e, event, true
	}
	rv := reflect.ValueOf(event)
	if rv.Kind() == reflect.Pointer && !rv.IsNil() {
		if e, ok := r.byType[rv.Elem().Type()]; ok {
			return e, rv.Elem().Interface(), true
		}
	}
	return nil, nil, false
}
