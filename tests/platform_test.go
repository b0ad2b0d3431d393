package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/IBM/sarama"
	"github.com/google/uuid"

	"github.com/troupe-dev/troupe/cmd/troupe/invariant"
	"github.com/troupe-dev/troupe/cmd/troupe/stack"
	"github.com/troupe-dev/troupe/embedded/psp"
	"github.com/troupe-dev/troupe/shared/events"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
	"github.com/troupe-dev/troupe/shared/platform/httpapi"
	"github.com/troupe-dev/troupe/shared/platform/messaging"
	"github.com/troupe-dev/troupe/shared/platform/testinfra"
)

// A platform is a running stack as the scenarios drive it: only through
// HTTP, reading outcomes from the event store (and Kafka for the relay's
// own messages).
type platform struct {
	name   string
	st     *stack.Stack
	admin  string
	reader *invariant.Reader

	// sim serializes the scenarios that change the shared gateway
	// simulator (Lock) against those that pay by card (RLock).
	sim sync.RWMutex
	// services serializes the scenarios that stop and resume a context
	// of the shared stack.
	services sync.Mutex
}

var (
	shared   = map[string]*platform{}
	sharedMu sync.Mutex
)

// TestMain closes the per-binary stacks: the design's topic and consumer
// group names are fixed, so one broker can serve one platform at a time.
func TestMain(m *testing.M) {
	code := m.Run()
	sharedMu.Lock()
	for _, p := range shared {
		_ = p.st.Close()
	}
	sharedMu.Unlock()
	os.Exit(code)
}

func quietLogger() *slog.Logger {
	if os.Getenv("TROUPE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.DiscardHandler)
}

// breakerOpenTimeout is how long the shared stacks' card breaker stays open:
// long enough for an order to fail fast while it is, short enough for the
// gateway scenario to see it close again.
const breakerOpenTimeout = 3 * time.Second

// testStackConfig is the stack the scenarios share: write side only, a
// short breaker open time so the gateway scenario sees it close again.
func testStackConfig(dir string, brokers []string) stack.Config {
	return stack.Config{
		DataDir: dir, KafkaBrokers: brokers, KafkaNoSync: true, WithoutProjections: true,
		Logger: quietLogger(), BreakerOpenTimeout: breakerOpenTimeout, CatalogRecoveryDelay: 500 * time.Millisecond,
		PaymentsRetryInitial: 20 * time.Millisecond, PaymentsRetryMax: 200 * time.Millisecond,
	}
}

// sharedPlatform returns the test binary's stack on backend, started once.
func sharedPlatform(t testing.TB, backend string) *platform {
	t.Helper()
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if p := shared[backend]; p != nil {
		return p
	}
	var brokers []string
	if backend == testinfra.Real {
		brokers = testinfra.RealKafka()
	}
	dir, err := os.MkdirTemp("", "troupe-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	p := startPlatform(t, backend, testStackConfig(dir, brokers))
	shared[backend] = p
	return p
}

// ownPlatform starts a stack for one test on the embedded broker.
func ownPlatform(t testing.TB, mutate func(*stack.Config)) *platform {
	t.Helper()
	cfg := testStackConfig(t.TempDir(), nil)
	if mutate != nil {
		mutate(&cfg)
	}
	p := startPlatform(t, "own", cfg)
	t.Cleanup(func() { _ = p.st.Close() })
	return p
}

func startPlatform(t testing.TB, name string, cfg stack.Config) *platform {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := stack.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start stack: %v", err)
	}
	if err := st.Ready(ctx); err != nil {
		_ = st.Close()
		t.Fatalf("stack ready: %v", err)
	}
	admin, err := st.Auth().Issue("admin", httpapi.RoleAdmin, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return &platform{name: name, st: st, admin: admin, reader: invariant.NewReader()}
}

// forEachBackend runs fn on the shared embedded stack and, when
// TROUPE_TEST_KAFKA_BROKERS is set, on the shared real-Kafka stack.
func forEachBackend(t *testing.T, fn func(t *testing.T, p *platform)) {
	t.Helper()
	for _, b := range []string{testinfra.Embedded, testinfra.Real} {
		t.Run(b, func(t *testing.T) {
			if b == testinfra.Real && testinfra.RealKafka() == nil {
				t.Skip("real Kafka: set " + testinfra.EnvKafkaBrokers + " (make test does)")
			}
			t.Parallel()
			fn(t, sharedPlatform(t, b))
		})
	}
}

// id returns a unique identifier with prefix, valid as a SKU and a
// customer id.
func id(prefix string) string {
	return prefix + "-" + strings.ToUpper(strings.ReplaceAll(uuid.NewString()[:13], "-", ""))
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (p *platform) call(t testing.TB, method, path, token string, body any, hdr ...string) response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, p.st.HTTPURL()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (p *platform) customerToken(t testing.TB, customer string) string {
	t.Helper()
	tok, err := p.st.Auth().Issue(customer, httpapi.RoleCustomer, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// listProduct lists sku with stock through the admin API and waits until
// ordering's price book knows it (it learns from catalog's events).
func (p *platform) listProduct(t testing.TB, sku string, priceCents int64, stock int) {
	t.Helper()
	r := p.call(t, http.MethodPost, "/api/catalog/products", p.admin, map[string]any{"sku": sku, "name": "Product " + sku, "priceCents": priceCents})
	if r.status != http.StatusCreated {
		t.Fatalf("list %s: %d %s", sku, r.status, r.body)
	}
	if stock > 0 {
		p.receive(t, sku, stock)
	}
	p.waitFor(t, "price book of "+sku, func() bool { return len(p.stream(t, "ordering.pricebook-"+sku)) > 0 })
}

func (p *platform) receive(t testing.TB, sku string, quantity int) {
	t.Helper()
	r := p.call(t, http.MethodPost, "/api/catalog/products/"+sku+"/stock", p.admin, map[string]any{"quantity": quantity})
	if r.status != http.StatusAccepted {
		t.Fatalf("receive %s: %d %s", sku, r.status, r.body)
	}
}

func (p *platform) deposit(t testing.TB, customer string, cents int64) {
	t.Helper()
	r := p.call(t, http.MethodPost, "/api/customers/"+customer+"/wallet/deposits", p.customerToken(t, customer), map[string]any{"amountCents": cents})
	if r.status != http.StatusAccepted {
		t.Fatalf("deposit for %s: %d %s", customer, r.status, r.body)
	}
}

type orderLine struct {
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
}

func (p *platform) place(t testing.TB, customer, method string, lines ...orderLine) string {
	t.Helper()
	r := p.call(t, http.MethodPost, "/api/orders", p.customerToken(t, customer), map[string]any{"lines": lines, "paymentMethod": method})
	if r.status != http.StatusAccepted {
		t.Fatalf("place order: %d %s", r.status, r.body)
	}
	var out struct {
		OrderID string `json:"orderId"`
	}
	if err := json.Unmarshal(r.body, &out); err != nil || out.OrderID == "" {
		t.Fatalf("place order answer %s: %v", r.body, err)
	}
	return out.OrderID
}

func (p *platform) cancel(t testing.TB, customer, orderID string) int {
	t.Helper()
	return p.call(t, http.MethodPost, "/api/orders/"+orderID+"/cancel", p.customerToken(t, customer), nil).status
}

// stream reads one stream's saga records (nil if it does not exist).
func (p *platform) stream(t testing.TB, name string) []invariant.Record {
	t.Helper()
	var out []invariant.Record
	for _, ev := range p.events(t, name) {
		if strings.HasPrefix(name, "ordering.pricebook-") {
			out = append(out, invariant.Record{Stream: name})
			continue
		}
		rec, ok, err := p.reader.Record(eventstore.NewRecordedEvent(ev))
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			out = append(out, rec)
		}
	}
	return out
}

// eventTypes returns the types of the events in stream, private ones
// included; none for a stream that does not exist.
func (p *platform) eventTypes(t testing.TB, name string) []string {
	t.Helper()
	var out []string
	for _, ev := range p.events(t, name) {
		out = append(out, ev.EventType)
	}
	return out
}

// events reads every event of stream; none for a stream that does not
// exist.
func (p *platform) events(t testing.TB, name string) []*esdb.RecordedEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rs, err := p.st.EventStore().ReadStream(ctx, name, esdb.ReadStreamOptions{From: esdb.Start{}}, math.MaxInt64)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	defer rs.Close()
	var out []*esdb.RecordedEvent
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out
		}
		var esErr *esdb.Error
		if errors.As(err, &esErr) && esErr.Code() == esdb.ErrorCodeResourceNotFound {
			return nil
		}
		if err != nil {
			t.Fatalf("read %s: %v", name, err)
		}
		out = append(out, ev.Event)
	}
}

// orderView is what the three contexts recorded about one order.
type orderView struct {
	status, reason                   string
	captures, refunds, failures      int
	failReason                       string
	reserved, reserveFailed          int
	released, committed              int
	confirmedEvents, cancelledEvents int
}

func (v orderView) String() string {
	type plain orderView // without this method, so %+v does not recurse
	return fmt.Sprintf("%+v", plain(v))
}

func (p *platform) order(t testing.TB, orderID string) orderView {
	t.Helper()
	var v orderView
	v.status = "PENDING"
	var recs []invariant.Record
	for _, s := range []string{"ordering.order-", "catalog.reservation-", "payments.payment-"} {
		recs = append(recs, p.stream(t, s+orderID)...)
	}
	for _, r := range recs {
		switch e := r.Event.(type) {
		case events.OrderConfirmed:
			v.confirmedEvents++
			v.status = "CONFIRMED"
		case events.OrderCancelled:
			v.cancelledEvents++
			v.status, v.reason = "CANCELLED", e.Reason
		case events.PaymentCaptured:
			v.captures++
		case events.PaymentRefunded:
			v.refunds++
		case events.PaymentFailed:
			v.failures++
			v.failReason = e.Reason
		case events.StockReserved:
			v.reserved++
		case events.StockReservationFailed:
			v.reserveFailed++
		case events.StockReleased:
			v.released++
		case events.StockCommitted:
			v.committed++
		}
	}
	return v
}

// settled: terminal, and every compensation of the terminal state done.
func (v orderView) settled() bool {
	switch v.status {
	case "CONFIRMED":
		return v.committed > 0
	case "CANCELLED":
		return (v.reserved == 0 || v.released > 0) && v.refunds >= v.captures
	}
	return false
}

// waitSettled waits until the order's saga has settled and returns it.
func (p *platform) waitSettled(t testing.TB, orderID string) orderView {
	t.Helper()
	var v orderView
	p.waitFor(t, "order "+orderID+" to settle", func() bool { v = p.order(t, orderID); return v.settled() }, func() string { return v.String() })
	return v
}

// waitFor polls cond for up to 60 s (sagas on a loaded 2-core machine).
func (p *platform) waitFor(t testing.TB, what string, cond func() bool, detail ...func() string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if err := p.st.Err(); err != nil {
			t.Fatalf("%s: the stack failed: %v", p.name, err)
		}
		if time.Now().After(deadline) {
			msg := ""
			if len(detail) > 0 {
				msg = detail[0]()
			}
			t.Fatalf("%s: timed out waiting for %s %s", p.name, what, msg)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func (p *platform) stock(t testing.TB, sku string) invariant.Stock {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := invariant.ProductStock(ctx, p.st.EventStore(), []string{sku})
	if err != nil {
		t.Fatal(err)
	}
	return s[sku]
}

// balance is the wallet's balance after its last event (0 if none).
func (p *platform) balance(t testing.TB, customer string) int64 {
	t.Helper()
	var b int64
	for _, r := range p.stream(t, "payments.wallet-"+customer) {
		switch e := r.Event.(type) {
		case events.FundsDeposited:
			b = e.BalanceCents
		case events.WalletDebited:
			b = e.BalanceCents
		case events.WalletCredited:
			b = e.BalanceCents
		}
	}
	return b
}

// setSim changes the gateway simulator through its HTTP control, as an
// operator would.
func (p *platform) setSim(t testing.TB, s psp.Settings) {
	t.Helper()
	b, _ := json.Marshal(s)
	req, _ := http.NewRequest(http.MethodPut, p.st.PSPURL()+"/_sim", bytes.NewReader(b))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT /_sim: %d", resp.StatusCode)
	}
}

// relayed finds the message the relay published for the event of eventType
// in stream: its partition is the producer's hash of the key.
func (p *platform) relayed(t testing.TB, topic, stream, eventType string) *sarama.ConsumerMessage {
	t.Helper()
	cfg := messaging.NewSaramaConfig("e2e-reader")
	consumer, err := sarama.NewConsumer(p.st.Brokers(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	part, err := sarama.NewHashPartitioner(topic).Partition(&sarama.ProducerMessage{Key: sarama.StringEncoder(stream)}, messaging.TopicPartitions)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := consumer.ConsumePartition(topic, part, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case m := <-pc.Messages():
			if string(m.Key) != stream {
				continue
			}
			for _, h := range m.Headers {
				if string(h.Key) == messaging.HeaderEventType && string(h.Value) == eventType {
					return m
				}
			}
		case <-timeout:
			t.Fatalf("no %s of %s on %s partition %d", eventType, stream, topic, part)
		}
	}
}

// republish sends m again with the same key, value and headers: a
// duplicate delivery as a relay restart would make.
func (p *platform) republish(t testing.TB, m *sarama.ConsumerMessage) {
	t.Helper()
	cfg := messaging.NewSaramaConfig("e2e-duplicator")
	cfg.Producer.Return.Successes = true
	prod, err := sarama.NewSyncProducer(p.st.Brokers(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	var hs []sarama.RecordHeader
	for _, h := range m.Headers {
		hs = append(hs, *h)
	}
	if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: m.Topic, Key: sarama.ByteEncoder(m.Key),
		Value: sarama.ByteEncoder(m.Value), Headers: hs, Timestamp: m.Timestamp}); err != nil {
		t.Fatal(err)
	}
}

// publishAs sends e on its context's topic as that context's relay would
// (key = stream, the design's headers, a fresh event id).
func (p *platform) publishAs(t testing.TB, stream string, e events.Event) {
	t.Helper()
	payload, _ := json.Marshal(e)
	eid := uuid.NewString()
	h := map[string]string{
		messaging.HeaderEventID: eid, messaging.HeaderEventType: e.EventType(), messaging.HeaderStream: stream,
		messaging.HeaderRevision: "0", messaging.HeaderCorrelationID: eid, messaging.HeaderCausationID: eid,
		messaging.HeaderOccurredAt: time.Now().UTC().Format(time.RFC3339Nano), messaging.HeaderContentType: messaging.ContentTypeJSON,
		messaging.HeaderTraceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
	}
	var hs []sarama.RecordHeader
	for k, v := range h {
		hs = append(hs, sarama.RecordHeader{Key: []byte(k), Value: []byte(v)})
	}
	cfg := messaging.NewSaramaConfig("e2e-publisher")
	cfg.Producer.Return.Successes = true
	prod, err := sarama.NewSyncProducer(p.st.Brokers(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: messaging.TopicFor(events.ContextOf(e.EventType())),
		Key: sarama.StringEncoder(stream), Value: sarama.ByteEncoder(payload), Headers: hs, Timestamp: time.Now()}); err != nil {
		t.Fatal(err)
	}
}

// rawHistory lists the stored events (private ones too) of an order's
// streams, for failure messages.
func (p *platform) rawHistory(t testing.TB, orderID string) string {
	t.Helper()
	var b strings.Builder
	for _, s := range []string{"ordering.order-", "catalog.reservation-", "payments.payment-"} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		rs, err := p.st.EventStore().ReadStream(ctx, s+orderID, esdb.ReadStreamOptions{From: esdb.Start{}}, math.MaxInt64)
		if err != nil {
			cancel()
			continue
		}
		for {
			ev, err := rs.Recv()
			if err != nil {
				break
			}
			fmt.Fprintf(&b, "  %s@%d %s %s %s\n", ev.Event.StreamID, ev.Event.EventNumber, ev.Event.CreatedDate.Format("15:04:05.000"), ev.Event.EventType, ev.Event.Data)
		}
		rs.Close()
		cancel()
	}
	return b.String()
}

// topicKeys returns the record keys on topic now (nil if it does not exist).
func (p *platform) topicKeys(t testing.TB, topic string) map[string]bool {
	t.Helper()
	client, err := sarama.NewClient(p.st.Brokers(), messaging.NewSaramaConfig("e2e-reader"))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	parts, err := client.Partitions(topic)
	if err != nil {
		return nil
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	keys := map[string]bool{}
	for _, part := range parts {
		end, err := client.GetOffset(topic, part, sarama.OffsetNewest)
		if err != nil || end == 0 {
			continue
		}
		pc, err := consumer.ConsumePartition(topic, part, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		for m := range pc.Messages() {
			keys[string(m.Key)] = true
			if m.Offset+1 >= end {
				break
			}
		}
		pc.Close()
	}
	return keys
}
