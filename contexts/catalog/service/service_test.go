package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/uuid"

	"github.com/troupe-dev/troupe/contexts/catalog/service"
	esserver "github.com/troupe-dev/troupe/embedded/eventstore"
	"github.com/troupe-dev/troupe/shared/events"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
	"github.com/troupe-dev/troupe/shared/platform/httpapi"
	"github.com/troupe-dev/troupe/shared/platform/messaging"
	"github.com/troupe-dev/troupe/shared/platform/testinfra"
)

// observed collects the catalog's integration events from catalog.events.
type observed struct {
	mu     sync.Mutex
	events []observedEvent
}

type observedEvent struct {
	stream  string
	typ     string
	payload map[string]any
}

func (o *observed) add(m messaging.Meta, payload []byte) error {
	var p map[string]any
	if err := json.Unmarshal(payload, &p); err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.events = append(o.events, observedEvent{stream: m.Stream, typ: m.EventType, payload: p})
	return nil
}

// waitFor waits until n events of typ about the given field value arrived.
func (o *observed) waitFor(t *testing.T, typ, field, value string, n int) []observedEvent {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		o.mu.Lock()
		var got []observedEvent
		for _, e := range o.events {
			if e.typ == typ && e.payload[field] == value {
				got = append(got, e)
			}
		}
		o.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %d %s with %s=%s; have %d", n, typ, field, value, len(got))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (o *observed) count(typ, field, value string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, e := range o.events {
		if e.typ == typ && e.payload[field] == value {
			n++
		}
	}
	return n
}

// publisher sends ordering's integration events the way its relay would.
type publisher struct {
	t    *testing.T
	prod sarama.SyncProducer
}

func (p publisher) publish(stream string, rev uint64, eventID string, e events.Event) {
	p.t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		p.t.Fatal(err)
	}
	h := func(k, v string) sarama.RecordHeader { return sarama.RecordHeader{Key: []byte(k), Value: []byte(v)} }
	now := time.Now().UTC()
	_, _, err = p.prod.SendMessage(&sarama.ProducerMessage{
		Topic: messaging.TopicFor(events.ContextOrdering), Key: sarama.StringEncoder(stream), Value: sarama.ByteEncoder(b),
		Timestamp: now,
		Headers: []sarama.RecordHeader{
			h(messaging.HeaderEventID, eventID),
			h(messaging.HeaderEventType, e.EventType()),
			h(messaging.HeaderStream, stream),
			h(messaging.HeaderRevision, fmt.Sprint(rev)),
			h(messaging.HeaderCorrelationID, "corr-"+stream),
			h(messaging.HeaderCausationID, eventID),
			h(messaging.HeaderOccurredAt, now.Format(time.RFC3339Nano)),
			h(messaging.HeaderTraceparent, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
			h(messaging.HeaderContentType, messaging.ContentTypeJSON),
		},
	})
	if err != nil {
		p.t.Fatalf("publish: %v", err)
	}
}

func TestServiceReactsToOrdering(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	srv, err := esserver.Start(ctx, esserver.Config{DataDir: t.TempDir(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	client, err := eventstore.Dial(srv.URL(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	// The service uses the design's fixed topics and group names, so on the
	// shared real broker it would consume other modules' leftovers: it gets
	// a broker of its own. The tests module runs the contexts on real Kafka.
	brokers := testinfra.EmbeddedKafka(t)
	auth, err := httpapi.NewAuth([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}

	svc, err := service.New(service.Config{EventStore: client, Brokers: brokers, Auth: auth, Logger: quiet,
		RecoveryDelay: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- svc.Run(ctx) }()

	// Observe catalog.events through the SDK, as any subscriber would.
	obs := &observed{}
	watcher, err := messaging.NewSubscriber("watch-"+strings.ReplaceAll(uuid.NewString(), "-", "")[:12], messaging.SubscriberConfig{Brokers: brokers, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{events.TypeProductListed, events.TypeStockReceived, events.TypeStockReserved,
		events.TypeStockReservationFailed, events.TypeStockCommitted, events.TypeStockReleased} {
		messaging.HandleRaw(watcher, typ, func(_ context.Context, payload []byte, m messaging.Meta) error { return obs.add(m, payload) })
	}
	watchDone := make(chan error, 1)
	go func() { watchDone <- watcher.Run(ctx) }()

	cfg := messaging.NewSaramaConfig("catalog-service-test")
	if err := messaging.EnsureTopics(brokers, cfg, messaging.TopicFor(events.ContextOrdering)); err != nil {
		t.Fatal(err)
	}
	prod, err := sarama.NewSyncProducer(brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = prod.Close() })
	pub := publisher{t: t, prod: prod}

	// The admin lists a product with stock 3, over HTTP.
	e := httpapi.New(httpapi.Config{Ready: func(context.Context) error { return svc.Ready() }})
	svc.Routes(e)
	admin, _ := auth.Issue("admin", httpapi.RoleAdmin, time.Hour)
	sku := "SVC-" + strings.ToUpper(uuid.NewString()[:8])
	for _, r := range []struct{ path, body string }{
		{"/api/catalog/products", `{"sku":"` + sku + `","name":"Lamp","priceCents":2500}`},
		{"/api/catalog/products/" + sku + "/stock", `{"quantity":3}`},
	} {
		req := httptest.NewRequest(http.MethodPost, r.path, strings.NewReader(r.body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+admin)
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if rec.Code/100 != 2 {
			t.Fatalf("%s: %d %s", r.path, rec.Code, rec.Body)
		}
	}
	listed := obs.waitFor(t, events.TypeProductListed, "sku", sku, 1)
	if listed[0].payload["currency"] != "EUR" || listed[0].payload["priceCents"] != float64(2500) || listed[0].stream != "catalog.product-"+sku {
		t.Fatalf("listed %+v", listed[0])
	}
	obs.waitFor(t, events.TypeStockReceived, "sku", sku, 1)

	placed := func(orderID string, qty int) events.OrderPlaced {
		return events.OrderPlaced{OrderID: orderID, CustomerID: "c1", Currency: "EUR", PaymentMethod: events.PaymentMethodWallet,
			Lines: []events.PricedLine{{SKU: sku, Quantity: qty, UnitPriceCents: 2500}}, TotalCents: int64(qty) * 2500, PlacedAt: time.Now()}
	}

	// Order 1 takes 2 of 3: reserved, once, though delivered twice.
	o1 := uuid.NewString()
	placedID := uuid.NewString()
	pub.publish("ordering.order-"+o1, 0, placedID, placed(o1, 2))
	pub.publish("ordering.order-"+o1, 0, placedID, placed(o1, 2))
	reserved := obs.waitFor(t, events.TypeStockReserved, "orderId", o1, 1)
	if reserved[0].stream != "catalog.reservation-"+o1 {
		t.Fatalf("stock_reserved keyed %q", reserved[0].stream)
	}
	// Order 2 wants 2 of the 1 left: fails, out of stock.
	o2 := uuid.NewString()
	pub.publish("ordering.order-"+o2, 0, uuid.NewString(), placed(o2, 2))
	failed := obs.waitFor(t, events.TypeStockReservationFailed, "orderId", o2, 1)
	if failed[0].payload["reason"] != events.ReasonOutOfStock || failed[0].payload["sku"] != sku {
		t.Fatalf("failed %+v", failed[0].payload)
	}
	// Order 1 is confirmed: committed. Order 3 is reserved, then cancelled:
	// released.
	pub.publish("ordering.order-"+o1, 2, uuid.NewString(), events.OrderConfirmed{OrderID: o1, CustomerID: "c1", TotalCents: 5000})
	obs.waitFor(t, events.TypeStockCommitted, "orderId", o1, 1)
	o3 := uuid.NewString()
	pub.publish("ordering.order-"+o3, 0, uuid.NewString(), placed(o3, 1))
	obs.waitFor(t, events.TypeStockReserved, "orderId", o3, 1)
	pub.publish("ordering.order-"+o3, 2, uuid.NewString(), events.OrderCancelled{OrderID: o3, CustomerID: "c1", Reason: events.ReasonTimeout})
	released := obs.waitFor(t, events.TypeStockReleased, "orderId", o3, 1)
	if lines, _ := released[0].payload["lines"].([]any); len(lines) != 1 {
		t.Fatalf("released %+v", released[0].payload)
	}
	// Order 4 is cancelled before it is placed: never reserved.
	o4 := uuid.NewString()
	pub.publish("ordering.order-"+o4, 1, uuid.NewString(), events.OrderCancelled{OrderID: o4, CustomerID: "c1", Reason: events.ReasonTimeout})
	pub.publish("ordering.order-"+o4, 0, uuid.NewString(), placed(o4, 1))
	// Order 5 follows on the same stream order; once it is reserved, order 4
	// has been handled.
	o5 := uuid.NewString()
	pub.publish("ordering.order-"+o4, 2, uuid.NewString(), placed(o5, 1))
	obs.waitFor(t, events.TypeStockReserved, "orderId", o5, 1)

	if n := obs.count(events.TypeStockReserved, "orderId", o1); n != 1 {
		t.Fatalf("order 1 reserved %d times", n)
	}
	if n := obs.count(events.TypeStockReserved, "orderId", o4) + obs.count(events.TypeStockReservationFailed, "orderId", o4); n != 0 {
		t.Fatalf("order cancelled before placement got %d outcomes", n)
	}
	if err := svc.Ready(); err != nil {
		t.Fatalf("ready: %v", err)
	}

	cancel()
	select {
	case err := <-runErr:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not stop")
	}
	<-watchDone
}
