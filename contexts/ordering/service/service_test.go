package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/IBM/sarama"
	"github.com/google/uuid"

	"github.com/troupe-dev/troupe/contexts/ordering/internal/testenv"
	"github.com/troupe-dev/troupe/contexts/ordering/service"
	"github.com/troupe-dev/troupe/shared/events"
	"github.com/troupe-dev/troupe/shared/platform/httpapi"
	"github.com/troupe-dev/troupe/shared/platform/messaging"
	"github.com/troupe-dev/troupe/shared/platform/testinfra"
)

// rig runs the ordering service against an embedded event store and Kafka,
// plays catalog and payments by publishing their events the way their
// relays do, and watches ordering.events.
type rig struct {
	t       *testing.T
	client  *esdb.Client
	brokers []string
	auth    *httpapi.Auth
	clock   *testenv.Clock
	prod    sarama.SyncProducer

	mu   sync.Mutex
	seen map[string][]events.Event // by order id, what ordering published
}

func newRig(t *testing.T) *rig {
	t.Helper()
	// The service uses the design's fixed topics and group names, so on the
	// shared real broker it would consume other modules' leftovers: it gets
	// a broker of its own. The tests module runs the contexts on real Kafka.
	brokers := testinfra.EmbeddedKafka(t)
	cfg := messaging.NewSaramaConfig("ordering-service-test")
	topics := []string{messaging.TopicFor(events.ContextCatalog), messaging.TopicFor(events.ContextPayments), messaging.TopicFor(events.ContextOrdering)}
	if err := messaging.EnsureTopics(brokers, cfg, topics...); err != nil {
		t.Fatal(err)
	}
	prod, err := sarama.NewSyncProducer(brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = prod.Close() })
	auth, err := httpapi.NewAuth([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, client: testenv.EventStore(t), brokers: brokers, auth: auth, prod: prod,
		clock: testenv.NewClock(time.Now()), seen: map[string][]events.Event{}}
	r.watch()
	return r
}

// start runs a Service until the returned stop is called.
func (r *rig) start() (e http.Handler, svc *service.Service, stop func()) {
	r.t.Helper()
	svc, err := service.New(service.Config{
		EventStore: r.client, Brokers: r.brokers, Auth: r.auth, Logger: testenv.Logger(r.t),
		OrderTimeout: time.Minute, Now: r.clock.Now,
	})
	if err != nil {
		r.t.Fatal(err)
	}
	echo := httpapi.New(httpapi.Config{Logger: testenv.Quiet(), Ready: func(context.Context) error { return svc.Ready() }})
	svc.Routes(echo)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	testenv.Eventually(r.t, 10*time.Second, "the service is ready", func() bool { return svc.Ready() == nil })
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				r.t.Errorf("Run: %v", err)
			}
		})
	}
	r.t.Cleanup(stop)
	return echo, svc, stop
}

// watch consumes ordering.events as a subscriber of its own.
func (r *rig) watch() {
	sub, err := messaging.NewSubscriber("watch-"+uuid.NewString()[:8], messaging.SubscriberConfig{Brokers: r.brokers, Logger: testenv.Quiet()})
	if err != nil {
		r.t.Fatal(err)
	}
	record := func(orderID string, e events.Event, m messaging.Meta) error {
		if m.Stream != "ordering.order-"+orderID {
			return fmt.Errorf("key %s for order %s", m.Stream, orderID)
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		r.seen[orderID] = append(r.seen[orderID], e)
		return nil
	}
	messaging.Handle(sub, func(_ context.Context, e events.OrderPlaced, m messaging.Meta) error { return record(e.OrderID, e, m) })
	messaging.Handle(sub, func(_ context.Context, e events.OrderConfirmed, m messaging.Meta) error {
		return record(e.OrderID, e, m)
	})
	messaging.Handle(sub, func(_ context.Context, e events.OrderCancelled, m messaging.Meta) error {
		return record(e.OrderID, e, m)
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = sub.Run(ctx) }()
	r.t.Cleanup(func() { cancel(); <-done })
}

func (r *rig) published(orderID string) []events.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]events.Event(nil), r.seen[orderID]...)
}

// waitFor waits until ordering published want as the n-th event of the
// order (from 0) and nothing after it.
func (r *rig) waitFor(orderID string, n int, match func(events.Event) bool) {
	r.t.Helper()
	testenv.Eventually(r.t, 20*time.Second, fmt.Sprintf("event %d of order %s", n, orderID), func() bool {
		got := r.published(orderID)
		return len(got) > n && match(got[n])
	})
}

// publish sends e as context's relay would: key and stream header the
// source stream, a deterministic event id.
func (r *rig) publish(stream string, rev uint64, eventID string, e events.Event) {
	r.t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		r.t.Fatal(err)
	}
	h := []sarama.RecordHeader{
		{Key: []byte(messaging.HeaderEventID), Value: []byte(eventID)},
		{Key: []byte(messaging.HeaderEventType), Value: []byte(e.EventType())},
		{Key: []byte(messaging.HeaderStream), Value: []byte(stream)},
		{Key: []byte(messaging.HeaderRevision), Value: []byte(fmt.Sprint(rev))},
		{Key: []byte(messaging.HeaderCorrelationID), Value: []byte(eventID)},
		{Key: []byte(messaging.HeaderCausationID), Value: []byte(eventID)},
		{Key: []byte(messaging.HeaderOccurredAt), Value: []byte(time.Now().UTC().Format(time.RFC3339Nano))},
		{Key: []byte(messaging.HeaderContentType), Value: []byte(messaging.ContentTypeJSON)},
	}
	_, _, err = r.prod.SendMessage(&sarama.ProducerMessage{Topic: messaging.TopicFor(events.ContextOf(e.EventType())),
		Key: sarama.StringEncoder(stream), Value: sarama.ByteEncoder(b), Headers: h})
	if err != nil {
		r.t.Fatalf("publish: %v", err)
	}
}

func (r *rig) placeOrder(h http.Handler, customer, body string) (int, string) {
	r.t.Helper()
	tok, err := r.auth.Issue(customer, httpapi.RoleCustomer, time.Minute)
	if err != nil {
		r.t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/api/orders", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out struct {
		OrderID string `json:"orderId"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	return rec.Code, out.OrderID
}

// TestServiceSaga runs the service and plays the other contexts: the price
// book learns from catalog, orders are placed, confirmed on a capture,
// cancelled on a failed reservation or a passed deadline, and a deadline
// set before a restart still fires after it.
func TestServiceSaga(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	h, _, stop := r.start()
	sku := "S-" + strings.ToUpper(uuid.NewString()[:8])
	body := `{"lines":[{"sku":"` + sku + `","quantity":3}],"paymentMethod":"wallet"}`

	if code, _ := r.placeOrder(h, "c-1", body); code != http.StatusUnprocessableEntity {
		t.Fatalf("before the listing: %d", code)
	}
	r.publish("catalog.product-"+sku, 0, uuid.NewString(), events.ProductListed{SKU: sku, Name: "Thing", PriceCents: 250, Currency: "EUR"})
	r.publish("catalog.product-"+sku, 1, uuid.NewString(), events.ProductRepriced{SKU: sku, PriceCents: 300, Currency: "EUR"})
	var confirmed string
	testenv.Eventually(t, 20*time.Second, "the price book learns the listing and the new price", func() bool {
		code, id := r.placeOrder(h, "c-1", body)
		if code != http.StatusAccepted {
			return false
		}
		r.waitFor(id, 0, func(e events.Event) bool { _, ok := e.(events.OrderPlaced); return ok })
		if r.published(id)[0].(events.OrderPlaced).TotalCents != 900 {
			return false // placed at the listing price, before the reprice arrived
		}
		confirmed = id
		return true
	})
	placed := r.published(confirmed)[0].(events.OrderPlaced)
	if placed.CustomerID != "c-1" || placed.PaymentMethod != "wallet" || placed.Currency != "EUR" ||
		len(placed.Lines) != 1 || placed.Lines[0].UnitPriceCents != 300 || placed.PlacedAt.IsZero() {
		t.Fatalf("order_placed %+v", placed)
	}

	// Happy path: reserved, then captured (delivered twice) -> one order_confirmed.
	r.publish("catalog.reservation-"+confirmed, 0, uuid.NewString(), events.StockReserved{OrderID: confirmed, Lines: []events.Line{{SKU: sku, Quantity: 3}}})
	captureID := uuid.NewString()
	capture := events.PaymentCaptured{OrderID: confirmed, CustomerID: "c-1", PaymentID: uuid.NewString(), AmountCents: 900, Method: "wallet"}
	r.publish("payments.payment-"+confirmed, 1, captureID, capture)
	r.publish("payments.payment-"+confirmed, 1, captureID, capture)
	r.waitFor(confirmed, 1, func(e events.Event) bool {
		c, ok := e.(events.OrderConfirmed)
		return ok && c.TotalCents == 900 && c.CustomerID == "c-1"
	})

	// Out of stock -> order_cancelled with catalog's reason.
	_, outOfStock := r.placeOrder(h, "c-2", body)
	r.publish("catalog.reservation-"+outOfStock, 0, uuid.NewString(),
		events.StockReservationFailed{OrderID: outOfStock, Reason: events.ReasonOutOfStock, SKU: sku})
	r.waitFor(outOfStock, 1, func(e events.Event) bool {
		c, ok := e.(events.OrderCancelled)
		return ok && c.Reason == events.ReasonOutOfStock && c.CustomerID == "c-2"
	})

	// Payment failed -> order_cancelled payment_failed.
	_, unpaid := r.placeOrder(h, "c-3", body)
	r.publish("payments.payment-"+unpaid, 0, uuid.NewString(),
		events.PaymentFailed{OrderID: unpaid, CustomerID: "c-3", Reason: events.ReasonInsufficientFunds})
	r.waitFor(unpaid, 1, func(e events.Event) bool {
		c, ok := e.(events.OrderCancelled)
		return ok && c.Reason == events.ReasonPaymentFailed
	})

	// A deadline set before a restart fires after it.
	_, late := r.placeOrder(h, "c-4", body)
	r.waitFor(late, 0, func(e events.Event) bool { _, ok := e.(events.OrderPlaced); return ok })
	stop()
	r.clock.Advance(2 * time.Minute)
	r.start()
	r.waitFor(late, 1, func(e events.Event) bool {
		c, ok := e.(events.OrderCancelled)
		return ok && c.Reason == events.ReasonTimeout && c.CustomerID == "c-4"
	})

	// Nothing else was published for the orders that reached a final state.
	time.Sleep(300 * time.Millisecond)
	for _, id := range []string{confirmed, outOfStock, unpaid, late} {
		if got := r.published(id); len(got) != 2 {
			t.Errorf("order %s: published %d events: %+v", id, len(got), got)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	if _, err := service.New(service.Config{}); err == nil {
		t.Fatal("an empty config was accepted")
	}
}
