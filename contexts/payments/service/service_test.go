package service_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/uuid"

	"github.com/troupe-dev/troupe/contexts/payments/service"
	esserver "github.com/troupe-dev/troupe/embedded/eventstore"
	"github.com/troupe-dev/troupe/embedded/psp"
	"github.com/troupe-dev/troupe/shared/events"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
	"github.com/troupe-dev/troupe/shared/platform/httpapi"
	"github.com/troupe-dev/troupe/shared/platform/messaging"
	"github.com/troupe-dev/troupe/shared/platform/testinfra"
)

// publish sends an integration event the way the relay would: topic
// "<context>.events", key = stream, the design's headers.
func publish(t *testing.T, p sarama.SyncProducer, stream string, rev uint64, e events.Event) {
	t.Helper()
	payload, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	id := uuid.NewString()
	h := map[string]string{
		messaging.HeaderEventID: id, messaging.HeaderEventType: e.EventType(), messaging.HeaderStream: stream,
		messaging.HeaderRevision: strconv.FormatUint(rev, 10), messaging.HeaderCorrelationID: id,
		messaging.HeaderCausationID: id, messaging.HeaderOccurredAt: time.Now().UTC().Format(time.RFC3339Nano),
		messaging.HeaderTraceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", messaging.HeaderContentType: messaging.ContentTypeJSON,
	}
	var headers []sarama.RecordHeader
	for k, v := range h {
		headers = append(headers, sarama.RecordHeader{Key: []byte(k), Value: []byte(v)})
	}
	_, _, err = p.SendMessage(&sarama.ProducerMessage{Topic: messaging.TopicFor(events.ContextOf(e.EventType())),
		Key: sarama.StringEncoder(stream), Value: sarama.ByteEncoder(payload), Headers: headers, Timestamp: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
}

func TestServiceReactsAndPublishes(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	quiet := slog.New(slog.DiscardHandler)
	store, err := esserver.Start(ctx, esserver.Config{DataDir: t.TempDir(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	client, err := eventstore.Dial(store.URL(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	// The service uses the design's fixed topics and group names, so on the
	// shared real broker it would consume other modules' leftovers: it gets
	// a broker of its own. The tests module runs the contexts on real Kafka.
	brokers := testinfra.EmbeddedKafka(t)
	gateway, err := psp.Start(ctx, psp.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gateway.Close() })
	auth, err := httpapi.NewAuth([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}

	if _, err := service.New(service.Config{EventStore: client, Brokers: brokers, Auth: auth}); err == nil {
		t.Fatal("New without a PSP URL succeeded")
	}
	svc, err := service.New(service.Config{EventStore: client, Brokers: brokers, Auth: auth, PSPURL: gateway.URL(),
		Logger: quiet, SubscriberRetryInitial: 10 * time.Millisecond, SubscriberRetryMax: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	e := httpapi.New(httpapi.Config{Logger: quiet})
	svc.Routes(e)
	runErr := make(chan error, 1)
	go func() { runErr <- svc.Run(ctx) }()

	// Observe payments.events as any subscriber would.
	var mu sync.Mutex
	seen := map[string][]events.Event{}
	obs, err := messaging.NewSubscriber("observer-"+uuid.NewString()[:8], messaging.SubscriberConfig{Brokers: brokers, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	note := func(key string, e events.Event) {
		mu.Lock()
		seen[key] = append(seen[key], e)
		mu.Unlock()
	}
	messaging.Handle(obs, func(_ context.Context, e events.FundsDeposited, _ messaging.Meta) error {
		note(e.CustomerID, e)
		return nil
	})
	messaging.Handle(obs, func(_ context.Context, e events.WalletDebited, _ messaging.Meta) error {
		note(e.OrderID, e)
		return nil
	})
	messaging.Handle(obs, func(_ context.Context, e events.PaymentCaptured, _ messaging.Meta) error {
		note(e.OrderID, e)
		return nil
	})
	messaging.Handle(obs, func(_ context.Context, e events.PaymentFailed, _ messaging.Meta) error {
		note(e.OrderID, e)
		return nil
	})
	go func() { _ = obs.Run(ctx) }()

	customer := "c-" + uuid.NewString()[:8]
	tok, _ := auth.Issue(customer, httpapi.RoleCustomer, time.Minute)
	req := httptest.NewRequest(http.MethodPost, "/api/customers/"+customer+"/wallet/deposits", strings.NewReader(`{"amountCents": 1000}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Idempotency-Key", "first")
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	if rec.Code != http.StatusAccepted || rec.Header().Get(httpapi.HeaderConsistency) != "payments.wallet-"+customer+"@0" {
		t.Fatalf("deposit: %d %q %s", rec.Code, rec.Header().Get(httpapi.HeaderConsistency), rec.Body)
	}

	cfg := messaging.NewSaramaConfig("test-producer")
	cfg.Producer.Return.Successes = true
	if err := messaging.EnsureTopics(brokers, cfg, "ordering.events", "catalog.events"); err != nil {
		t.Fatal(err)
	}
	producer, err := sarama.NewSyncProducer(brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	walletOrder, cardOrder, poorOrder := uuid.NewString(), uuid.NewString(), uuid.NewString()
	// Complete events: subscribers validate payloads against the schemas.
	line := []events.Line{{SKU: "MUG-1", Quantity: 1}}
	priced := func(total int64) []events.PricedLine {
		return []events.PricedLine{{SKU: "MUG-1", Quantity: 1, UnitPriceCents: total}}
	}
	// The reservation first for one order: payments must wait for the placement.
	publish(t, producer, "catalog.reservation-"+walletOrder, 0, events.StockReserved{OrderID: walletOrder, Lines: line})
	publish(t, producer, "ordering.order-"+walletOrder, 0, events.OrderPlaced{OrderID: walletOrder, CustomerID: customer,
		TotalCents: 300, Currency: "EUR", Lines: priced(300), PaymentMethod: events.PaymentMethodWallet})
	publish(t, producer, "ordering.order-"+cardOrder, 0, events.OrderPlaced{OrderID: cardOrder, CustomerID: customer,
		TotalCents: 5000, Currency: "EUR", Lines: priced(5000), PaymentMethod: events.PaymentMethodCard})
	publish(t, producer, "catalog.reservation-"+cardOrder, 0, events.StockReserved{OrderID: cardOrder, Lines: line})
	publish(t, producer, "ordering.order-"+poorOrder, 0, events.OrderPlaced{OrderID: poorOrder, CustomerID: customer,
		TotalCents: 5000, Currency: "EUR", Lines: priced(5000), PaymentMethod: events.PaymentMethodWallet})
	publish(t, producer, "catalog.reservation-"+poorOrder, 0, events.StockReserved{OrderID: poorOrder, Lines: line})

	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		done := len(seen[customer]) > 0 && len(seen[walletOrder]) >= 2 && len(seen[cardOrder]) >= 1 && len(seen[poorOrder]) >= 1
		mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("missing integration events; seen %v", seen)
		}
		if svc.Ready() != nil {
			select {
			case err := <-runErr:
				t.Fatalf("Run stopped: %v", err)
			default:
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	if d, ok := seen[customer][0].(events.FundsDeposited); !ok || d.AmountCents != 1000 || d.BalanceCents != 1000 {
		t.Errorf("deposit published as %#v", seen[customer][0])
	}
	var debited, captured bool
	for _, e := range seen[walletOrder] {
		switch e := e.(type) {
		case events.WalletDebited:
			debited = e.AmountCents == 300 && e.BalanceCents == 700
		case events.PaymentCaptured:
			captured = e.AmountCents == 300 && e.Method == events.PaymentMethodWallet && e.PaymentID != ""
		}
	}
	if !debited || !captured {
		t.Errorf("wallet order events %#v", seen[walletOrder])
	}
	if c, ok := seen[cardOrder][0].(events.PaymentCaptured); !ok || c.Method != events.PaymentMethodCard {
		t.Errorf("card order events %#v", seen[cardOrder])
	}
	if f, ok := seen[poorOrder][0].(events.PaymentFailed); !ok || f.Reason != events.ReasonInsufficientFunds {
		t.Errorf("poor order events %#v", seen[poorOrder])
	}
	mu.Unlock()
	if err := svc.Ready(); err != nil {
		t.Errorf("Ready while running: %v", err)
	}
	cancel()
	select {
	case err := <-runErr:
		if err != nil {
			t.Fatalf("Run after a clean stop: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not stop")
	}
}
