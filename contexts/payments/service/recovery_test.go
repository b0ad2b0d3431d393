package service_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/IBM/sarama"
	"github.com/google/uuid"

	"github.com/troupe-dev/troupe/contexts/payments/domain/payment"
	"github.com/troupe-dev/troupe/contexts/payments/service"
	esserver "github.com/troupe-dev/troupe/embedded/eventstore"
	"github.com/troupe-dev/troupe/embedded/psp"
	"github.com/troupe-dev/troupe/shared/events"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
	"github.com/troupe-dev/troupe/shared/platform/httpapi"
	"github.com/troupe-dev/troupe/shared/platform/messaging"
	"github.com/troupe-dev/troupe/shared/platform/testinfra"
)

// streamTypes returns the event types of stream, in order.
func streamTypes(t *testing.T, client *esdb.Client, stream string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rs, err := client.ReadStream(ctx, stream, esdb.ReadStreamOptions{From: esdb.Start{}}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var types []string
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return types
		}
		var esErr *esdb.Error
		if errors.As(err, &esErr) && esErr.Code() == esdb.ErrorCodeResourceNotFound {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, ev.Event.EventType)
	}
}

func count(types []string, want string) int {
	n := 0
	for _, ty := range types {
		if ty == want {
			n++
		}
	}
	return n
}

// TestRecoveryRefundsAfterGatewayOutage: a card payment is captured, then
// the order is cancelled while the gateway is down for longer than the
// subscriber's retry budget (the cancellation goes to payments.dlq). Once
// the gateway is back, the recovery refunds it, exactly once.
func TestRecoveryRefundsAfterGatewayOutage(t *testing.T) {
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
	svc, err := service.New(service.Config{EventStore: client, Brokers: brokers, Auth: auth, PSPURL: gateway.URL(),
		Logger: quiet, PSPTimeout: 500 * time.Millisecond, BreakerOpenTimeout: 200 * time.Millisecond,
		SubscriberRetryInitial: 10 * time.Millisecond, SubscriberRetryMax: 50 * time.Millisecond,
		RecoveryDelay: 100 * time.Millisecond, RecoveryRetryInitial: 50 * time.Millisecond, RecoveryRetryMax: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- svc.Run(ctx) }()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !cond() {
			select {
			case err := <-runErr:
				t.Fatalf("%s: Run stopped: %v", what, err)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("ready", func() bool { return svc.Ready() == nil })

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
	order, customer := uuid.NewString(), "c-"+uuid.NewString()[:8]
	stream := "payments.payment-" + order
	publish(t, producer, "ordering.order-"+order, 0, events.OrderPlaced{OrderID: order, CustomerID: customer,
		TotalCents: 5000, Currency: "EUR", PaymentMethod: events.PaymentMethodCard,
		Lines: []events.PricedLine{{SKU: "MUG-1", Quantity: 1, UnitPriceCents: 5000}}})
	publish(t, producer, "catalog.reservation-"+order, 0, events.StockReserved{OrderID: order,
		Lines: []events.Line{{SKU: "MUG-1", Quantity: 1}}})
	waitFor("capture", func() bool { return count(streamTypes(t, client, stream), payment.TypePaymentCaptured) == 1 })

	if err := gateway.SetSettings(psp.Settings{Down: true}); err != nil {
		t.Fatal(err)
	}
	publish(t, producer, "ordering.order-"+order, 1, events.OrderCancelled{OrderID: order, CustomerID: customer,
		Reason: events.ReasonCustomerRequested})
	waitFor("the cancellation to be noted", func() bool {
		return count(streamTypes(t, client, stream), payment.TypeCancellationNoted) == 1
	})
	// Well past the subscriber's retry budget (5 attempts, 10-50 ms apart)
	// and several recovery retries.
	time.Sleep(3 * time.Second)
	if n := count(streamTypes(t, client, stream), payment.TypePaymentRefunded); n != 0 || gateway.Refunds() != 0 {
		t.Fatalf("refunded while the gateway is down: %d events, %d refunds", n, gateway.Refunds())
	}
	if gateway.Calls("POST /refunds") == 0 {
		t.Fatal("no refund was tried while the gateway was down")
	}
	if svc.PendingSettlements() != 1 {
		t.Fatalf("pending settlements %d, want 1", svc.PendingSettlements())
	}

	if err := gateway.SetSettings(psp.Settings{}); err != nil {
		t.Fatal(err)
	}
	waitFor("the refund", func() bool { return count(streamTypes(t, client, stream), payment.TypePaymentRefunded) == 1 })
	waitFor("the recovery to let go", func() bool { return svc.PendingSettlements() == 0 })
	time.Sleep(500 * time.Millisecond) // anything doubled would show by now
	if n := count(streamTypes(t, client, stream), payment.TypePaymentRefunded); n != 1 || gateway.Refunds() != 1 {
		t.Fatalf("%d PaymentRefunded events, %d gateway refunds; want 1 and 1", n, gateway.Refunds())
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
