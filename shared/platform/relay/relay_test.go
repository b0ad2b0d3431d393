package relay_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/IBM/sarama"
	"github.com/google/uuid"

	"github.com/troupe-dev/troupe/shared/platform/eventstore"
	"github.com/troupe-dev/troupe/shared/platform/messaging"
	"github.com/troupe-dev/troupe/shared/platform/relay"
	"github.com/troupe-dev/troupe/shared/platform/testinfra"
)

// TestRelayPublishesIntegrationEvents checks the mapping contract on both
// Kafka backends: private events stay private, other contexts' streams are
// not read, and each published record has the source stream as key, the
// mapped payload as value, the occurred-at time as timestamp, a
// deterministic event id and the design's headers. A clean stop saves the
// checkpoint, so a second relay publishes only what is new.
func TestRelayPublishesIntegrationEvents(t *testing.T) {
	t.Parallel()
	testinfra.ForEachKafka(t, func(t *testing.T, kb testinfra.KafkaBackend) {
		t.Parallel()
		ctx := t.Context()
		name := newContext(t)
		topic := messaging.TopicFor(name)
		es := newClient(t, storeURL)

		at := time.Date(2025, 3, 1, 12, 30, 0, 123456789, time.UTC)
		mdListed, mdNoted, mdRepriced := metadataAt(at), metadataAt(at.Add(time.Second)), metadataAt(at.Add(2*time.Second))
		streamA, streamB := name+".product-A", name+".product-B"
		idsA, err := appendEvents(ctx, es, streamA, esdb.NoStream{},
			domainEvent{typeListed, `{"sku":"A","priceCents":100}`, mdListed},
			domainEvent{typeNoted, `{"note":"secret"}`, mdNoted},
			domainEvent{typeRepriced, `{"sku":"A","priceCents":90}`, mdRepriced},
		)
		if err != nil {
			t.Fatal(err)
		}
		// Written without Troupe's metadata (another tool): the store's time
		// and the event's own id stand in.
		idsB, err := appendEvents(ctx, es, streamB, esdb.NoStream{}, domainEvent{typ: typeListed, data: `{"sku":"B"}`})
		if err != nil {
			t.Fatal(err)
		}
		// Neither another context's stream nor one whose name merely starts
		// with ours is read.
		for _, s := range []string{newContext(t) + ".product-X", name + "x.product-Y"} {
			if _, err := appendEvents(ctx, es, s, esdb.NoStream{}, domainEvent{typ: typeListed, data: `{}`}); err != nil {
				t.Fatal(err)
			}
		}

		cfg := relay.Config{Context: name, EventStore: es, Brokers: kb.Brokers, Mapper: testMapper(name), Logger: testLogger(t)}
		r, stop := runRelay(t, cfg)
		col := consumeWhenReady(t, kb.Brokers, topic)
		recs := col.waitDistinct(t, 3, 30*time.Second)
		if err := stop(); err != nil {
			t.Fatalf("Run: %v", err)
		}
		if st := r.Stats(); st.Skipped != 1 || st.Published != 3 || !st.CheckpointSaved || st.InFlight != 0 {
			t.Errorf("stats after a clean stop = %+v, want 3 published, 1 skipped, a checkpoint, nothing in flight", st)
		}

		storedB := readStream(t, es, streamB)[0]
		type want struct {
			stream, typ, payload string
			rev                  uint64
			source               uuid.UUID
			md                   eventstore.Metadata
			at                   time.Time
		}
		wants := []want{
			{streamA, name + ".product_listed.v1", `{"sku":"A","priceCents":100}`, 0, idsA[0], mdListed, mdListed.OccurredAt},
			{streamA, name + ".product_repriced.v1", `{"sku":"A","priceCents":90}`, 2, idsA[2], mdRepriced, mdRepriced.OccurredAt},
			{streamB, name + ".product_listed.v1", `{"sku":"B"}`, 0, idsB[0],
				eventstore.Metadata{CorrelationID: idsB[0].String(), CausationID: idsB[0].String()}, storedB.CreatedDate.UTC()},
		}
		if len(recs) != len(wants) {
			t.Fatalf("%d records on %s, want %d: %+v", len(recs), topic, len(wants), recs)
		}
		for _, w := range wants {
			i := slices.IndexFunc(recs, func(r record) bool { return r.key == w.stream && r.revision() == w.rev })
			if i < 0 {
				t.Errorf("no record for %s@%d", w.stream, w.rev)
				continue
			}
			got := recs[i]
			if string(got.value) != string(integrationPayload([]byte(w.payload))) {
				t.Errorf("%s@%d value = %s", w.stream, w.rev, got.value)
			}
			if !got.timestamp.Equal(w.at.Truncate(time.Millisecond)) {
				t.Errorf("%s@%d timestamp = %v, want %v", w.stream, w.rev, got.timestamp, w.at)
			}
			id := relay.EventID(w.source, topic)
			if id == w.source || id.Version() != 5 || id != relay.EventID(w.source, topic) {
				t.Errorf("EventID(%s) = %s: want a v5 id other than the source's, the same every time", w.source, id)
			}
			wantHeaders := map[string]string{
				messaging.HeaderEventID:       id.String(),
				messaging.HeaderEventType:     w.typ,
				messaging.HeaderStream:        w.stream,
				messaging.HeaderRevision:      strconv.FormatUint(w.rev, 10),
				messaging.HeaderCorrelationID: w.md.CorrelationID,
				messaging.HeaderCausationID:   w.md.CausationID,
				messaging.HeaderOccurredAt:    w.at.Format(time.RFC3339Nano),
				messaging.HeaderContentType:   messaging.ContentTypeJSON,
			}
			if w.md.Traceparent != "" {
				wantHeaders[messaging.HeaderTraceparent] = w.md.Traceparent
			}
			for k, v := range wantHeaders {
				if got.headers[k] != v {
					t.Errorf("%s@%d header %s = %q, want %q", w.stream, w.rev, k, got.headers[k], v)
				}
			}
			if len(got.headers) != len(wantHeaders) {
				t.Errorf("%s@%d headers = %v, want exactly %v", w.stream, w.rev, got.headers, wantHeaders)
			}
			if _, err := time.Parse(time.RFC3339, got.headers[messaging.HeaderOccurredAt]); err != nil {
				t.Errorf("occurred-at header is not RFC 3339: %v", err)
			}
		}

		// The checkpoint is in the store, and a new relay starts after it.
		if cp := readStream(t, es, eventstore.CheckpointStream(cfg.CheckpointName())); len(cp) != 1 {
			t.Errorf("checkpoint stream holds %d visible events, want 1 (maxCount 1)", len(cp))
		}
		if _, err := appendEvents(ctx, es, streamA, esdb.Revision(2), domainEvent{typeRepriced, `{"sku":"A","priceCents":80}`, metadataAt(at)}); err != nil {
			t.Fatal(err)
		}
		r2, stop2 := runRelay(t, cfg)
		col.waitDistinct(t, 4, 30*time.Second)
		time.Sleep(500 * time.Millisecond) // room for a wrong republication to show
		recs = col.snapshot()
		if err := stop2(); err != nil {
			t.Fatalf("second Run: %v", err)
		}
		if len(recs) != 4 || r2.Stats().Published != 1 {
			t.Errorf("after a clean stop and restart: %d records (want 4), second relay published %d (want 1)", len(recs), r2.Stats().Published)
		}
	})
}

// TestRelayStopsOnMappingError: a mapper error (or a type outside the
// context) ends Run with ErrMapping and the checkpoint before the event,
// so the fixed relay publishes it instead of skipping it.
func TestRelayStopsOnMappingError(t *testing.T) {
	t.Parallel()
	brokers := testinfra.KafkaBrokers(t)
	ctx := t.Context()
	name := newContext(t)
	es := newClient(t, storeURL)
	stream := name + ".product-A"
	if _, err := appendEvents(ctx, es, stream, esdb.NoStream{},
		domainEvent{typeListed, `{"n":0}`, metadataAt(time.Now())},
		domainEvent{"Unmappable", `{"n":1}`, metadataAt(time.Now())},
	); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		mapper relay.Mapper
		want   string
	}{
		{"mapper error", testMapper(name), `unknown domain event type "Unmappable"`},
		{"foreign type", relay.MapperFunc(func(ev eventstore.RecordedEvent) (relay.Event, bool, error) {
			return relay.Event{Type: "ordering.order_placed.v1", Payload: ev.Data}, ev.Type == "Unmappable", nil
		}), `not of context`},
	} {
		r, err := relay.New(relay.Config{Context: name, EventStore: es, Brokers: brokers, Mapper: tc.mapper, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		runCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = r.Run(runCtx)
		cancel()
		if !errors.Is(err, relay.ErrMapping) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), stream+"@1") {
			t.Fatalf("%s: Run = %v, want ErrMapping naming %s@1 and %q", tc.name, err, stream, tc.want)
		}
	}

	fixed := relay.MapperFunc(func(ev eventstore.RecordedEvent) (relay.Event, bool, error) {
		return relay.Event{Type: name + ".anything.v1", Payload: ev.Data}, true, nil
	})
	_, stop := runRelay(t, relay.Config{Context: name, EventStore: es, Brokers: brokers, Mapper: fixed, Logger: testLogger(t)})
	col := consumeWhenReady(t, brokers, messaging.TopicFor(name))
	recs := col.waitDistinct(t, 2, 30*time.Second)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	dups, problems := orderReport(recs, map[string][]uint64{stream: {0, 1}})
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	// Event 0 was acknowledged before the failure; whether its checkpoint was
	// saved first depends on timing, so it may appear twice, never more.
	if dups > 1 {
		t.Errorf("%d duplicates, want at most 1", dups)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	es := newClient(t, storeURL)
	valid := func() relay.Config {
		return relay.Config{Context: "catalog", EventStore: es, Brokers: []string{"127.0.0.1:1"}, Mapper: testMapper("catalog")}
	}
	for _, tc := range []struct {
		name   string
		modify func(*relay.Config)
		want   string
	}{
		{"valid", func(*relay.Config) {}, ""},
		{"no context", func(c *relay.Config) { c.Context = "" }, "Context"},
		{"dotted context", func(c *relay.Config) { c.Context = "catalog.x" }, "Context"},
		{"no event store", func(c *relay.Config) { c.EventStore = nil }, "EventStore"},
		{"no brokers", func(c *relay.Config) { c.Brokers = nil }, "Brokers"},
		{"no mapper", func(c *relay.Config) { c.Mapper = nil }, "Mapper"},
		{"backoffs", func(c *relay.Config) { c.InitialBackoff, c.MaxBackoff = time.Second, time.Millisecond }, "MaxBackoff"},
		{"acks", func(c *relay.Config) {
			c.Sarama = messaging.NewSaramaConfig("x")
			c.Sarama.Producer.Idempotent = false
		}, "idempotent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := valid()
			tc.modify(&cfg)
			err := cfg.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				if _, err := relay.New(cfg); err != nil {
					t.Fatalf("New = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want an error about %s", err, tc.want)
			}
			if _, err := relay.New(cfg); err == nil {
				t.Fatal("New accepted an invalid config")
			}
		})
	}
	cfg := valid()
	if cfg.Topic() != "catalog.events" || cfg.StreamPrefix() != "catalog." || cfg.CheckpointName() != "relay-catalog" ||
		eventstore.CheckpointStream(cfg.CheckpointName()) != "troupe.checkpoint-relay-catalog" {
		t.Errorf("derived names: %s %s %s", cfg.Topic(), cfg.StreamPrefix(), cfg.CheckpointName())
	}
}

// consumeWhenReady waits for the relay to have created the topic, then
// consumes it.
func consumeWhenReady(t testing.TB, brokers []string, topic string) *collector {
	t.Helper()
	waitFor(t, 30*time.Second, "topic "+topic, func() bool {
		admin, err := sarama.NewClusterAdmin(brokers, messaging.NewSaramaConfig("relay-test-admin"))
		if err != nil {
			return false
		}
		defer admin.Close()
		topics, err := admin.ListTopics()
		_, ok := topics[topic]
		return err == nil && ok
	})
	return consume(t, brokers, topic)
}

func readStream(t testing.TB, c *esdb.Client, stream string) []*esdb.RecordedEvent {
	t.Helper()
	rs, err := c.ReadStream(t.Context(), stream, esdb.ReadStreamOptions{}, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var out []*esdb.RecordedEvent
	for {
		re, err := rs.Recv()
		if err != nil {
			if eventstore.IsStreamNotFound(err) {
				return nil
			}
			if errors.Is(err, io.EOF) {
				return out
			}
			t.Fatalf("read %s: %v", stream, err)
		}
		out = append(out, re.OriginalEvent())
	}
}
