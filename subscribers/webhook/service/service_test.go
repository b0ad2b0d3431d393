package service_test

import (
	"context"
	"crypto/md5"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/troupe-dev/troupe/shared/events"
	"github.com/troupe-dev/troupe/shared/platform/messaging"
	"github.com/troupe-dev/troupe/shared/platform/testinfra"
	"github.com/troupe-dev/troupe/subscribers/webhook"
	"github.com/troupe-dev/troupe/subscribers/webhook/service"
)

const secret = "whsec-test"

var testLog = io.Discard

// delivery is one request a receiver got.
type delivery struct {
	env    webhook.Envelope
	status int
}

// receiver is a local webhook endpoint: verify checks each signature, and
// answer decides each status from the envelope and its attempt number.
type receiver struct {
	t      testing.TB
	srv    *httptest.Server
	mu     sync.Mutex
	got    []delivery
	tries  map[string]int  // event id -> requests
	active map[string]bool // stream -> a request in flight
	answer func(e webhook.Envelope, attempt int) int
}

func newReceiver(t testing.TB, answer func(e webhook.Envelope, attempt int) int) *receiver {
	r := &receiver{t: t, tries: map[string]int{}, active: map[string]bool{}, answer: answer}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if err := webhook.Verify(secret, req.Header.Get(webhook.SignatureHeader), body, time.Now(), 5*time.Minute); err != nil {
			t.Errorf("signature: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var e webhook.Envelope
		if err := json.Unmarshal(body, &e); err != nil {
			t.Errorf("body %s: %v", body, err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		if r.active[e.Stream] {
			t.Errorf("two requests of stream %s in flight", e.Stream)
		}
		r.active[e.Stream] = true
		r.tries[e.ID]++
		attempt := r.tries[e.ID]
		r.mu.Unlock()
		status := r.answer(e, attempt)
		r.mu.Lock()
		r.active[e.Stream] = false
		r.got = append(r.got, delivery{e, status})
		r.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// acked returns the acknowledged envelopes, in arrival order.
func (r *receiver) acked() []webhook.Envelope {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []webhook.Envelope
	for _, d := range r.got {
		if d.status/100 == 2 {
			out = append(out, d.env)
		}
	}
	return out
}

func (r *receiver) attempts(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tries[id]
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// env is one test's broker with a unique topic and webhook names.
type env struct {
	t       testing.TB
	brokers []string
	topic   string
	prod    sarama.SyncProducer
}

func newEnv(t testing.TB, brokers []string) *env {
	t.Helper()
	e := &env{t: t, brokers: brokers, topic: testinfra.Topic(t, "payments")}
	sc := messaging.NewSaramaConfig("test-relay")
	if err := messaging.EnsureTopics(brokers, sc, e.topic); err != nil {
		t.Fatal(err)
	}
	prod, err := sarama.NewSyncProducer(brokers, sc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = prod.Close() })
	e.prod = prod
	return e
}

// hook is a webhook of a unique name on the test's topic.
func (e *env) hook(base, url string, types ...string) service.Webhook {
	n := strings.ToLower(strings.NewReplacer(".", "-", "_", "-").Replace(testinfra.UniqueName(e.t, base)))
	if len(n) > 50 {
		n = base + "-" + n[len(n)-(49-len(base)):]
	}
	if len(types) == 0 {
		types = []string{events.TypePaymentCaptured}
	}
	return service.Webhook{Name: n, URL: url, Secret: secret, Types: types, Topics: []string{e.topic}}
}

type msg struct {
	stream   string
	revision uint64
	event    events.Event
}

// uid is a UUID derived from label (the schemas require UUID ids).
func uid(label string) string {
	b := md5.Sum([]byte(label))
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func captured(order string) events.PaymentCaptured {
	return events.PaymentCaptured{OrderID: uid(order), CustomerID: "c-" + order, PaymentID: uid("p-" + order), AmountCents: 1234, Method: "card"}
}

// publish sends msgs as the relay does (key = stream, the design's headers).
func (e *env) publish(msgs ...msg) {
	e.t.Helper()
	var batch []*sarama.ProducerMessage
	at := time.Now().UTC().Truncate(time.Millisecond)
	for _, m := range msgs {
		b, _ := json.Marshal(m.event)
		rev := strconv.FormatUint(m.revision, 10)
		h := map[string]string{
			messaging.HeaderEventID: m.stream + "@" + rev, messaging.HeaderEventType: m.event.EventType(),
			messaging.HeaderStream: m.stream, messaging.HeaderRevision: rev,
			messaging.HeaderOccurredAt: at.Format(time.RFC3339Nano), messaging.HeaderContentType: messaging.ContentTypeJSON,
		}
		var rh []sarama.RecordHeader
		for k, v := range h {
			rh = append(rh, sarama.RecordHeader{Key: []byte(k), Value: []byte(v)})
		}
		batch = append(batch, &sarama.ProducerMessage{Topic: e.topic, Key: sarama.StringEncoder(m.stream),
			Value: sarama.ByteEncoder(b), Headers: rh, Timestamp: at})
	}
	if err := e.prod.SendMessages(batch); err != nil {
		e.t.Fatalf("publish: %v", err)
	}
}

// start runs a webhook service until the test ends or stop is called.
func (e *env) start(maxAttempts int, hooks ...service.Webhook) (*service.Service, func()) {
	e.t.Helper()
	svc, err := service.New(service.Config{Brokers: e.brokers, Webhooks: hooks, MaxAttempts: maxAttempts,
		RetryInitial: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond, Timeout: 5 * time.Second,
		Logger: slog.New(slog.NewTextHandler(testLog, nil))})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	var stopped bool
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			e.t.Errorf("service run: %v", err)
		}
	}
	e.t.Cleanup(stop)
	return svc, stop
}

func ok(webhook.Envelope, int) int { return http.StatusOK }

// TestDeliverySignedAndNotResent: configured types arrive once, signed,
// with the envelope of the design; other types are not sent; a restart
// does not re-send what was acknowledged.
func TestDeliverySignedAndNotResent(t *testing.T) {
	t.Parallel()
	testinfra.ForEachKafka(t, func(t *testing.T, kb testinfra.KafkaBackend) {
		t.Parallel()
		e := newEnv(t, kb.Brokers)
		r := newReceiver(t, ok)
		h := e.hook("signed", r.srv.URL, events.TypePaymentCaptured, events.TypePaymentRefunded)
		e.publish(
			msg{"payments.payment-o1", 1, captured("o1")},
			msg{"payments.payment-o2", 1, events.PaymentFailed{OrderID: uid("o2"), CustomerID: "c", Reason: events.ReasonCardDeclined}},
			msg{"payments.payment-o1", 4, events.PaymentRefunded{OrderID: uid("o1"), CustomerID: "c-o1", AmountCents: 1234}},
			msg{"payments.payment-o3", 2, captured("o3")},
		)
		_, stop := e.start(5, h)
		eventually(t, "3 deliveries", func() bool { return len(r.acked()) >= 3 })
		stop()
		got := r.acked()
		if len(got) != 3 {
			t.Fatalf("%d deliveries, want 3: %+v", len(got), got)
		}
		var first webhook.Envelope
		for _, g := range got {
			if g.Type == events.TypePaymentFailed {
				t.Fatalf("an unconfigured type was sent: %+v", g)
			}
			if g.ID == "payments.payment-o1@1" {
				first = g
			}
		}
		var data events.PaymentCaptured
		if err := json.Unmarshal(first.Data, &data); err != nil || data != captured("o1") ||
			first.Type != events.TypePaymentCaptured || first.Stream != "payments.payment-o1" || first.Revision != 1 || first.OccurredAt.IsZero() {
			t.Fatalf("envelope %+v (data %+v, %v)", first, data, err)
		}

		e.publish(msg{"payments.payment-o4", 1, captured("o4")})
		_, _ = e.start(5, h)
		eventually(t, "the 4th delivery", func() bool { return len(r.acked()) >= 4 })
		time.Sleep(500 * time.Millisecond) // room for a wrong re-send to show
		if n := len(r.acked()); n != 4 {
			t.Fatalf("%d deliveries after a restart, want 4 (nothing re-sent)", n)
		}
	})
}

// TestRetriesThenSuccess: a receiver that fails 3 times gets the event
// acknowledged on the 4th attempt, then the stream's next event; nothing
// is dead-lettered.
func TestRetriesThenSuccess(t *testing.T) {
	t.Parallel()
	testinfra.ForEachKafka(t, func(t *testing.T, kb testinfra.KafkaBackend) {
		t.Parallel()
		e := newEnv(t, kb.Brokers)
		r := newReceiver(t, func(_ webhook.Envelope, attempt int) int {
			if attempt <= 3 {
				return http.StatusServiceUnavailable
			}
			return http.StatusNoContent
		})
		h := e.hook("retry", r.srv.URL)
		e.publish(msg{"payments.payment-a", 1, captured("a")}, msg{"payments.payment-a", 2, captured("a")})
		svc, _ := e.start(5, h)
		eventually(t, "both acknowledged", func() bool { return len(r.acked()) == 2 })
		got := r.acked()
		if got[0].Revision != 1 || got[1].Revision != 2 {
			t.Fatalf("order %d, %d", got[0].Revision, got[1].Revision)
		}
		if n := r.attempts("payments.payment-a@1"); n != 4 {
			t.Fatalf("%d attempts, want 4", n)
		}
		dl, err := svc.Subscriber(h.Name).DeadLetters(context.Background())
		if err != nil || len(dl) != 0 {
			t.Fatalf("dead letters %+v, %v: want none", dl, err)
		}
	})
}

// TestDeadLetterAfterNFailures: an event the receiver always refuses goes
// to webhook-<name>.dlq after MaxAttempts, its stream's later event is
// parked behind it (never sent out of order), other streams keep flowing;
// a redrive once the receiver heals sends both, in order.
func TestDeadLetterAfterNFailures(t *testing.T) {
	t.Parallel()
	testinfra.ForEachKafka(t, func(t *testing.T, kb testinfra.KafkaBackend) {
		t.Parallel()
		e := newEnv(t, kb.Brokers)
		var healed sync.Map
		r := newReceiver(t, func(env webhook.Envelope, _ int) int {
			if env.Stream == "payments.payment-bad" {
				if _, ok := healed.Load("yes"); !ok {
					return http.StatusInternalServerError
				}
			}
			return http.StatusOK
		})
		h := e.hook("dlq", r.srv.URL)
		msgs := []msg{{"payments.payment-bad", 1, captured("bad")}}
		for i := range 12 {
			msgs = append(msgs, msg{fmt.Sprintf("payments.payment-g%d", i), 1, captured(fmt.Sprint("g", i))})
		}
		msgs = append(msgs, msg{"payments.payment-bad", 2, captured("bad")})
		e.publish(msgs...)
		svc, _ := e.start(3, h)
		sub := svc.Subscriber(h.Name)
		ctx := context.Background()
		eventually(t, "good streams delivered", func() bool { return len(r.acked()) == 12 })
		var dl []messaging.DeadLetter
		eventually(t, "two dead letters", func() bool {
			var err error
			dl, err = sub.DeadLetters(ctx)
			return err == nil && len(dl) == 2
		})
		if dl[0].EventID != "payments.payment-bad@1" || dl[0].Attempts != 3 || dl[0].Parked ||
			dl[1].EventID != "payments.payment-bad@2" || !dl[1].Parked {
			t.Fatalf("dead letters %+v", dl)
		}
		if n := r.attempts("payments.payment-bad@1"); n != 3 {
			t.Fatalf("%d attempts, want 3", n)
		}
		if n := r.attempts("payments.payment-bad@2"); n != 0 {
			t.Fatalf("the parked event was sent %d times before the one ahead of it", n)
		}

		healed.Store("yes", true)
		n, err := sub.Redrive(ctx)
		if err != nil || n != 2 {
			t.Fatalf("redrive: %d, %v; want 2", n, err)
		}
		got := r.acked()
		if len(got) != 14 || got[12].ID != "payments.payment-bad@1" || got[13].ID != "payments.payment-bad@2" {
			t.Fatalf("after redrive: %d acked, last %+v", len(got), got[len(got)-2:])
		}
	})
}

// TestPerStreamOrder: with a flaky receiver, every stream's events are
// acknowledged exactly in revision order and never two at once.
func TestPerStreamOrder(t *testing.T) {
	t.Parallel()
	testinfra.ForEachKafka(t, func(t *testing.T, kb testinfra.KafkaBackend) {
		t.Parallel()
		e := newEnv(t, kb.Brokers)
		r := newReceiver(t, func(env webhook.Envelope, attempt int) int {
			if attempt == 1 && env.Revision%3 == 0 {
				return http.StatusBadGateway
			}
			return http.StatusOK
		})
		const streams, revs = 8, 15
		var msgs []msg
		for rev := 1; rev <= revs; rev++ {
			for s := range streams {
				msgs = append(msgs, msg{fmt.Sprintf("payments.payment-s%d", s), uint64(rev), captured(fmt.Sprint("s", s))})
			}
		}
		e.publish(msgs...)
		e.start(5, e.hook("order", r.srv.URL))
		eventually(t, "every event", func() bool { return len(r.acked()) >= streams*revs })
		next := map[string]uint64{}
		for _, g := range r.acked() {
			if g.Revision != next[g.Stream]+1 {
				t.Fatalf("stream %s: revision %d after %d", g.Stream, g.Revision, next[g.Stream])
			}
			next[g.Stream] = g.Revision
		}
	})
}

// TestTwoWebhooksIndependent: a receiver that always fails neither delays
// nor changes what another webhook on the same events receives; each has
// its own group and dead letters.
func TestTwoWebhooksIndependent(t *testing.T) {
	t.Parallel()
	testinfra.ForEachKafka(t, func(t *testing.T, kb testinfra.KafkaBackend) {
		t.Parallel()
		e := newEnv(t, kb.Brokers)
		down := newReceiver(t, func(webhook.Envelope, int) int { return http.StatusInternalServerError })
		up := newReceiver(t, ok)
		hDown, hUp := e.hook("down", down.srv.URL), e.hook("up", up.srv.URL)
		const n = 10
		var msgs []msg
		for i := range n {
			msgs = append(msgs, msg{fmt.Sprintf("payments.payment-i%d", i), 1, captured(fmt.Sprint("i", i))})
		}
		e.publish(msgs...)
		svc, _ := e.start(2, hDown, hUp)
		eventually(t, "the healthy webhook gets all", func() bool { return len(up.acked()) == n })
		ctx := context.Background()
		eventually(t, "the failing webhook dead-letters all", func() bool {
			dl, err := svc.Subscriber(hDown.Name).DeadLetters(ctx)
			return err == nil && len(dl) == n
		})
		if dl, err := svc.Subscriber(hUp.Name).DeadLetters(ctx); err != nil || len(dl) != 0 {
			t.Fatalf("healthy webhook's dead letters %+v, %v", dl, err)
		}
		if hDown.Group() == hUp.Group() || !strings.HasPrefix(hUp.Group(), "webhook-") {
			t.Fatalf("groups %s, %s", hDown.Group(), hUp.Group())
		}
	})
}

// TestResetReSends: issue 10's "a replay does not re-send what was
// delivered unless asked": a reset of a webhook's group (what `troupe
// subscribers reset` asks for) re-sends everything from the new offsets,
// in order per stream, while the other webhook is left alone.
func TestResetReSends(t *testing.T) {
	t.Parallel()
	testinfra.ForEachKafka(t, func(t *testing.T, kb testinfra.KafkaBackend) {
		t.Parallel()
		e := newEnv(t, kb.Brokers)
		r, other := newReceiver(t, ok), newReceiver(t, ok)
		h, o := e.hook("again", r.srv.URL), e.hook("left", other.srv.URL)
		e.publish(msg{"payments.payment-r1", 1, captured("r1")}, msg{"payments.payment-r1", 2, captured("r1b")},
			msg{"payments.payment-r2", 1, captured("r2")})
		svc, _ := e.start(5, h, o)
		eventually(t, "3 deliveries each", func() bool { return len(r.acked()) == 3 && len(other.acked()) == 3 })
		var sub *messaging.Subscriber
		for _, s := range svc.Subscribers() {
			if s.Name() == h.Group() {
				sub = s
			}
		}
		if sub == nil || len(svc.Subscribers()) != 2 {
			t.Fatalf("Subscribers() = %v, want both webhooks' with %s", svc.Subscribers(), h.Group())
		}
		if _, err := sub.Reset(context.Background(), messaging.ResetTo{Earliest: true}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "history re-sent", func() bool { return len(r.acked()) == 6 })
		var r1 []string
		for _, env := range r.acked() {
			if env.Stream == "payments.payment-r1" {
				r1 = append(r1, env.ID)
			}
		}
		if fmt.Sprint(r1) != "[payments.payment-r1@1 payments.payment-r1@2 payments.payment-r1@1 payments.payment-r1@2]" {
			t.Fatalf("stream r1 delivered %v, want twice in order", r1)
		}
		// The other webhook's group was not reset: a new event is its 4th delivery.
		e.publish(msg{"payments.payment-r3", 1, captured("r3")})
		eventually(t, "the new event at both", func() bool { return len(r.acked()) == 7 && len(other.acked()) >= 4 })
		if n := len(other.acked()); n != 4 {
			t.Fatalf("the other webhook got %d deliveries, want 4", n)
		}
	})
}
