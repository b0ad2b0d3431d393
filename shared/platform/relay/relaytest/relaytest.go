// Package relaytest holds checks for the relay's mappers, for the contexts'
// tests.
package relaytest

import (
	"slices"
	"testing"

	"github.com/troupe-dev/troupe/shared/platform/eventstore"
	"github.com/troupe-dev/troupe/shared/platform/relay"
)

// CheckSourceTypes fails t unless m's SourceTypes are exactly the types of
// reg that m publishes: it maps an event of every registered type (its
// zero value, on stream) and compares
// the types it published with the ones m names. A type m publishes but
// does not name would never reach it through the relay's filter, and so
// never be published.
func CheckSourceTypes(t testing.TB, m relay.Mapper, reg *eventstore.Registry, stream string) {
	t.Helper()
	tm, ok := m.(relay.TypedMapper)
	if !ok {
		t.Fatalf("%T does not name its source types (relay.TypedMapper)", m)
	}
	var published []string
	for _, typ := range reg.Names() {
		ev := eventstore.RecordedEvent{Stream: stream, Type: typ, Data: []byte(`{}`)}
		_, ok, err := m.Map(ev)
		if err != nil {
			t.Fatalf("map a %s: %v", typ, err)
		}
		if ok {
			published = append(published, typ)
		}
	}
	named := slices.Sorted(slices.Values(tm.SourceTypes()))
	if len(published) == 0 || !slices.Equal(published, named) {
		t.Fatalf("the mapper publishes %q and names %q as its source types", published, named)
	}
}
