package admin_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/troupe-dev/troupe/shared/events"
	"github.com/troupe-dev/troupe/shared/platform/admin"
	"github.com/troupe-dev/troupe/shared/platform/httpapi"
	"github.com/troupe-dev/troupe/shared/platform/messaging"
	"github.com/troupe-dev/troupe/shared/platform/testinfra"
)

// fixture is one test's topic, subscribers and admin API server.
type fixture struct {
	t       *testing.T
	brokers []string
	topic   string
	prod    sarama.SyncProducer
	srv     *httptest.Server
	auth    *httpapi.Auth
	reg     *admin.Registry
}

func newFixture(t *testing.T, brokers []string) *fixture {
	t.Helper()
	f := &fixture{t: t, brokers: brokers, topic: testinfra.Topic(t, "admin"), reg: admin.NewRegistry()}
	cfg := messaging.NewSaramaConfig("admin-test")
	if err := messaging.EnsureTopics(brokers, cfg, f.topic); err != nil {
		t.Fatal(err)
	}
	prod, err := sarama.NewSyncProducer(brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = prod.Close() })
	f.prod = prod
	auth, err := httpapi.NewAuth([]byte(strings.Repeat("s", 32)))
	if err != nil {
		t.Fatal(err)
	}
	f.auth = auth
	e := httpapi.New(httpapi.Config{})
	f.reg.Routes(e, auth)
	f.srv = httptest.NewServer(e)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) name(base string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return base + "-" + hex.EncodeToString(b)
}

func (f *fixture) publish(stream string, rev uint64, e events.Event) {
	f.t.Helper()
	b, _ := json.Marshal(e)
	h := []sarama.RecordHeader{
		{Key: []byte(messaging.HeaderEventID), Value: []byte(fmt.Sprintf("%s@%d", stream, rev))},
		{Key: []byte(messaging.HeaderEventType), Value: []byte(e.EventType())},
		{Key: []byte(messaging.HeaderStream), Value: []byte(stream)},
		{Key: []byte(messaging.HeaderRevision), Value: []byte(fmt.Sprint(rev))},
		{Key: []byte(messaging.HeaderOccurredAt), Value: []byte(time.Now().UTC().Format(time.RFC3339Nano))},
	}
	if _, _, err := f.prod.SendMessage(&sarama.ProducerMessage{Topic: f.topic, Key: sarama.StringEncoder(stream),
		Value: sarama.ByteEncoder(b), Headers: h}); err != nil {
		f.t.Fatal(err)
	}
}

// subscriber builds a subscriber whose handler counts events per stream
// and fails for SKU "BAD" while broken is set.
func (f *fixture) subscriber(name string, cfg messaging.SubscriberConfig, seen *counter, broken *atomic.Bool) *messaging.Subscriber {
	f.t.Helper()
	cfg.Brokers, cfg.Topics = f.brokers, []string{f.topic}
	cfg.MaxAttempts, cfg.RetryInitial, cfg.RetryMax = 2, 5*time.Millisecond, 10*time.Millisecond
	s, err := messaging.NewSubscriber(name, cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	messaging.Handle(s, func(_ context.Context, e events.StockReceived, m messaging.Meta) error {
		if e.SKU == "BAD" && broken != nil && broken.Load() {
			return errors.New("receiver down")
		}
		seen.add(m.Stream)
		return nil
	})
	return s
}

func (f *fixture) run(s *messaging.Subscriber) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	f.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			f.t.Errorf("Run: %v", err)
		}
	})
}

// call sends a request with the given role's token ("" for none) and
// decodes a 2xx JSON answer into out; it returns the status and the body.
func (f *fixture) call(method, path, role string, body any, out any) (int, string) {
	f.t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, f.srv.URL+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if role != "" {
		tok, err := f.auth.Issue("someone", role, time.Minute)
		if err != nil {
			f.t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	if resp.StatusCode/100 == 2 && out != nil {
		if err := json.Unmarshal(buf.Bytes(), out); err != nil {
			f.t.Fatalf("%s %s: %v in %s", method, path, err, buf.String())
		}
	}
	if resp.StatusCode >= 400 && resp.Header.Get("Content-Type") != httpapi.ContentTypeProblem {
		f.t.Fatalf("%s %s: %d with content type %q, want problem+json", method, path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return resp.StatusCode, buf.String()
}

type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) add(stream string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[stream]++
}

func (c *counter) get(stream string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[stream]
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAdminAPIAuthAndList: only admins may call it; the list names each
// subscriber with its component, state and topics.
func TestAdminAPIAuthAndList(t *testing.T) {
	t.Parallel()
	testinfra.ForEachKafka(t, func(t *testing.T, kb testinfra.KafkaBackend) {
		t.Parallel()
		f := newFixture(t, kb.Brokers)
		var seen counter
		running := f.subscriber(f.name("run"), messaging.SubscriberConfig{}, &seen, nil)
		idle := f.subscriber(f.name("idle"), messaging.SubscriberConfig{}, &seen, nil)
		f.reg.Add("catalog", running)
		f.reg.Add("webhook", idle)
		f.run(running)
		waitFor(t, "the subscriber to run", func() bool { return running.State() == messaging.StateRunning })

		if code, _ := f.call("GET", admin.SubscribersPath, "", nil, nil); code != http.StatusUnauthorized {
			t.Fatalf("no token: %d, want 401", code)
		}
		if code, _ := f.call("GET", admin.SubscribersPath, httpapi.RoleCustomer, nil, nil); code != http.StatusForbidden {
			t.Fatalf("customer token: %d, want 403", code)
		}
		var list admin.SubscriberList
		if code, body := f.call("GET", admin.SubscribersPath, httpapi.RoleAdmin, nil, &list); code != http.StatusOK {
			t.Fatalf("list: %d %s", code, body)
		}
		got := map[string]admin.Subscriber{}
		for _, s := range list.Items {
			got[s.Name] = s
		}
		r, i := got[running.Name()], got[idle.Name()]
		if len(list.Items) != 2 || r.Component != "catalog" || r.State != "running" || i.Component != "webhook" ||
			i.State != "stopped" || fmt.Sprint(r.Topics) != fmt.Sprint([]string{f.topic}) {
			t.Fatalf("list = %+v", list.Items)
		}
		// A component added again replaces its subscribers.
		f.reg.Add("webhook")
		if code, _ := f.call("GET", admin.SubscribersPath, httpapi.RoleAdmin, nil, &list); code != 200 || len(list.Items) != 1 {
			t.Fatalf("after replacing webhook's subscribers: %d, %+v", code, list.Items)
		}
	})
}

// TestAdminAPIReset: a reset re-drives history into the running
// subscriber; bad input is a 422 naming "to", an unknown subscriber a 404,
// a subscriber that refuses resets a 409 saying what to use.
func TestAdminAPIReset(t *testing.T) {
	t.Parallel()
	testinfra.ForEachKafka(t, func(t *testing.T, kb testinfra.KafkaBackend) {
		t.Parallel()
		f := newFixture(t, kb.Brokers)
		var seen, other counter
		sub := f.subscriber(f.name("reset"), messaging.SubscriberConfig{}, &seen, nil)
		refusing := f.subscriber(f.name("model"), messaging.SubscriberConfig{ResetRefusal: "rebuild it with `troupe replay projection x`"}, &other, nil)
		f.reg.Add("webhook", sub)
		f.reg.Add("projections", refusing)
		f.run(sub)
		f.run(refusing)
		for i := 0; i < 5; i++ {
			f.publish("catalog.product-AR", uint64(i), events.StockReceived{SKU: "SKU-AR", Quantity: 1})
		}
		waitFor(t, "five events", func() bool { return seen.get("catalog.product-AR") == 5 && other.get("catalog.product-AR") == 5 })

		path := admin.SubscriberPath(sub.Name(), "/reset")
		for _, bad := range []any{map[string]string{"to": "yesterday"}, map[string]string{}} {
			code, body := f.call("POST", path, httpapi.RoleAdmin, bad, nil)
			if code != http.StatusUnprocessableEntity || !strings.Contains(body, `"field":"to"`) {
				t.Fatalf("reset with %v: %d %s, want 422 naming to", bad, code, body)
			}
		}
		if code, body := f.call("POST", path, httpapi.RoleAdmin, "earliest", nil); code != http.StatusBadRequest {
			t.Fatalf("reset with a JSON string body: %d %s, want 400", code, body)
		}
		if code, body := f.call("POST", admin.SubscriberPath("nobody", "/reset"), httpapi.RoleAdmin, admin.ResetRequest{To: "earliest"}, nil); code != http.StatusNotFound || !strings.Contains(body, "nobody") {
			t.Fatalf("unknown subscriber: %d %s, want 404 naming it", code, body)
		}
		code, body := f.call("POST", admin.SubscriberPath(refusing.Name(), "/reset"), httpapi.RoleAdmin, admin.ResetRequest{To: "earliest"}, nil)
		if code != http.StatusConflict || !strings.Contains(body, "troupe replay projection") {
			t.Fatalf("refusing subscriber: %d %s, want 409 naming the rebuild", code, body)
		}
		var res admin.ResetResult
		if code, body := f.call("POST", path, httpapi.RoleAdmin, admin.ResetRequest{To: "earliest"}, &res); code != http.StatusOK {
			t.Fatalf("reset: %d %s", code, body)
		}
		if res.Name != sub.Name() || res.To != "earliest" || len(res.Partitions) != messaging.TopicPartitions {
			t.Fatalf("reset result %+v", res)
		}
		waitFor(t, "history again", func() bool { return seen.get("catalog.product-AR") == 10 })
		if sub.State() != messaging.StateRunning {
			t.Fatalf("state after reset = %s", sub.State())
		}
	})
}

// TestAdminAPIDeadLetters: a failing event is listed with its error and
// attempts, the one parked behind it as parked; an unknown id is a 422
// naming "id"; redriving it by id and then all empties the list.
func TestAdminAPIDeadLetters(t *testing.T) {
	t.Parallel()
	testinfra.ForEachKafka(t, func(t *testing.T, kb testinfra.KafkaBackend) {
		t.Parallel()
		f := newFixture(t, kb.Brokers)
		var seen counter
		var broken atomic.Bool
		broken.Store(true)
		sub := f.subscriber(f.name("dlq"), messaging.SubscriberConfig{}, &seen, &broken)
		f.reg.Add("webhook", sub)
		f.run(sub)
		f.publish("catalog.product-AD", 0, events.StockReceived{SKU: "BAD", Quantity: 1})
		f.publish("catalog.product-AD", 1, events.StockReceived{SKU: "BAD", Quantity: 1})
		path := admin.SubscriberPath(sub.Name(), "/dlq")
		var list admin.DeadLetterList
		waitFor(t, "two dead letters", func() bool {
			code, _ := f.call("GET", path, httpapi.RoleAdmin, nil, &list)
			return code == 200 && len(list.Items) == 2
		})
		d0, d1 := list.Items[0], list.Items[1]
		if d0.EventID != "catalog.product-AD@0" || d0.Stream != "catalog.product-AD" || d0.EventType != events.TypeStockReceived ||
			d0.Error != "receiver down" || d0.Attempts != 2 || d0.Parked || !d1.Parked || d1.EventID != "catalog.product-AD@1" {
			t.Fatalf("dead letters = %+v", list.Items)
		}
		broken.Store(false)
		code, body := f.call("POST", path+"/redrive", httpapi.RoleAdmin, admin.RedriveRequest{ID: "nope"}, nil)
		if code != http.StatusUnprocessableEntity || !strings.Contains(body, `"field":"id"`) {
			t.Fatalf("unknown id: %d %s, want 422 naming id", code, body)
		}
		if code, body := f.call("POST", path+"/redrive", httpapi.RoleAdmin, admin.RedriveRequest{ID: d1.EventID}, nil); code != http.StatusConflict {
			t.Fatalf("redrive of the parked one first: %d %s, want 409", code, body)
		}
		var rr admin.RedriveResult
		if code, body := f.call("POST", path+"/redrive", httpapi.RoleAdmin, admin.RedriveRequest{ID: d0.EventID}, &rr); code != 200 || rr.Redriven != 1 {
			t.Fatalf("redrive by id: %d %s", code, body)
		}
		if code, body := f.call("POST", path+"/redrive", httpapi.RoleAdmin, map[string]any{}, &rr); code != 200 || rr.Redriven != 1 {
			t.Fatalf("redrive all: %d %s", code, body)
		}
		if seen.get("catalog.product-AD") != 2 {
			t.Fatalf("handled %d of the stream's events, want 2", seen.get("catalog.product-AD"))
		}
		if code, _ := f.call("GET", path, httpapi.RoleAdmin, nil, &list); code != 200 || len(list.Items) != 0 {
			t.Fatalf("after redrive: %d %+v", code, list.Items)
		}
	})
}
