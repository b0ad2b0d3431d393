package relay_test

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/troupe-dev/troupe/shared/platform/eventstore"
	"github.com/troupe-dev/troupe/shared/platform/messaging"
	"github.com/troupe-dev/troupe/shared/platform/relay"
	"github.com/troupe-dev/troupe/shared/platform/testinfra"
)

// typedMapper publishes <context>.listed and names it as its only source
// type; any other event reaching Map is counted and fails the relay, so a
// relay that read more than the named types cannot pass.
type typedMapper struct {
	context string
	others  atomic.Int64
}

func (m *typedMapper) SourceTypes() []string { return []string{m.context + ".listed"} }

func (m *typedMapper) Map(ev eventstore.RecordedEvent) (relay.Event, bool, error) {
	if ev.Type != m.context+".listed" {
		m.others.Add(1)
		return relay.Event{}, false, fmt.Errorf("%s reached Map, outside SourceTypes", ev.Type)
	}
	return relay.Event{Type: m.context + ".product_listed.v1", Payload: integrationPayload(ev.Data)}, true, nil
}

// TestTypedMapperReadsOnlyItsSourceTypes: a relay whose mapper names its
// source types reads only those from the store (private events before,
// between and after them never reach Map) and publishes each of them; a
// second relay, from the first one's checkpoint, publishes only what is
// new.
func TestTypedMapperReadsOnlyItsSourceTypes(t *testing.T) {
	t.Parallel()
	testinfra.ForEachKafka(t, func(t *testing.T, kb testinfra.KafkaBackend) {
		t.Parallel()
		ctx := t.Context()
		name := newContext(t)
		topic := messaging.TopicFor(name)
		es := newClient(t, storeURL)
		listed := func(sku string) domainEvent {
			return domainEvent{typ: name + ".listed", data: `{"sku":"` + sku + `"}`}
		}
		noted := domainEvent{typ: name + ".noted", data: `{}`}
		// Private events before, between and after the published ones, more
		// than one checkpoint window of them at the end.
		evs := []domainEvent{noted, listed("A"), noted, noted, listed("B")}
		for range 100 {
			evs = append(evs, noted)
		}
		if _, err := appendEvents(ctx, es, name+".product-1", esdb.NoStream{}, evs...); err != nil {
			t.Fatal(err)
		}
		m := &typedMapper{context: name}
		r, stop := runRelay(t, relay.Config{Context: name, EventStore: es, Brokers: kb.Brokers, Mapper: m, Logger: testLogger(t)})
		col := consume(t, kb.Brokers, topic)
		col.waitDistinct(t, 2, 30*time.Second)
		if err := stop(); err != nil {
			t.Fatalf("Run: %v", err)
		}
		if st := r.Stats(); st.Published != 2 || st.Skipped != 0 || m.others.Load() != 0 {
			t.Fatalf("stats %+v, %d other events mapped: want 2 published, none skipped or mapped", st, m.others.Load())
		}

		// A second relay starts after what the first one saved: only the
		// new event is published again.
		if _, err := appendEvents(ctx, es, name+".product-1", esdb.Revision(uint64(len(evs)-1)), noted, listed("C")); err != nil {
			t.Fatal(err)
		}
		r2, stop2 := runRelay(t, relay.Config{Context: name, EventStore: es, Brokers: kb.Brokers, Mapper: m, Logger: testLogger(t)})
		col.waitDistinct(t, 3, 30*time.Second)
		if err := stop2(); err != nil {
			t.Fatalf("Run: %v", err)
		}
		if st := r2.Stats(); st.Published != 1 || m.others.Load() != 0 {
			t.Fatalf("second relay: stats %+v, %d other events mapped: want only the new event", st, m.others.Load())
		}
	})
}

// TestTypedMapperValidation: a TypedMapper naming no type, or a type
// outside the relay's context, is refused before anything connects.
func TestTypedMapperValidation(t *testing.T) {
	es := newClient(t, storeURL)
	for _, types := range [][]string{nil, {"other.listed"}, {"shop."}, {"shop.listed", "shopx.listed"}} {
		cfg := relay.Config{Context: "shop", EventStore: es, Brokers: []string{"127.0.0.1:1"}, Mapper: fixedTypes(types)}
		_, err := relay.New(cfg)
		if err == nil || !strings.Contains(err.Error(), "Config.Mapper") {
			t.Errorf("source types %q: err = %v, want one naming Config.Mapper", types, err)
		}
	}
	cfg := relay.Config{Context: "shop", EventStore: es, Brokers: []string{"127.0.0.1:1"}, Mapper: fixedTypes{"shop.listed"}}
	if _, err := relay.New(cfg); err != nil {
		t.Errorf("a valid TypedMapper: %v", err)
	}
}

type fixedTypes []string

func (f fixedTypes) SourceTypes() []string { return f }

func (fixedTypes) Map(eventstore.RecordedEvent) (relay.Event, bool, error) {
	return relay.Event{}, false, errors.New("not called")
}
