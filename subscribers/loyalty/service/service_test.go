package service_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/redis/go-redis/v9"

	"github.com/troupe-dev/troupe/shared/events"
	"github.com/troupe-dev/troupe/shared/platform/httpapi"
	"github.com/troupe-dev/troupe/shared/platform/messaging"
	"github.com/troupe-dev/troupe/shared/platform/readmodel"
	"github.com/troupe-dev/troupe/shared/platform/testinfra"
	"github.com/troupe-dev/troupe/subscribers/loyalty/points"
	"github.com/troupe-dev/troupe/subscribers/loyalty/service"
)

// forEachBackend runs fn against real Kafka and Redis (skipped when the
// variables are unset) and against kfake and miniredis.
func forEachBackend(t *testing.T, fn func(t *testing.T, brokers []string, redisURL string)) {
	t.Run(testinfra.Real, func(t *testing.T) {
		t.Parallel()
		b, r := testinfra.RealKafka(), testinfra.RealRedis()
		if b == nil || r == "" {
			t.Skipf("%s and %s are not both set", testinfra.EnvKafkaBrokers, testinfra.EnvRedisURL)
		}
		fn(t, b, r)
	})
	t.Run(testinfra.Embedded, func(t *testing.T) {
		t.Parallel()
		fn(t, testinfra.EmbeddedKafka(t), testinfra.EmbeddedRedis(t))
	})
}

// msg is one integration event as the relay publishes it.
type msg struct {
	stream   string
	revision uint64
	event    events.Event
}

// env is one test's platform: a unique payments topic, group and key prefix.
type env struct {
	t     testing.TB
	rdb   *redis.Client
	topic string
	cfg   service.Config
	auth  *httpapi.Auth
	prod  sarama.SyncProducer
}

func newEnv(t testing.TB, brokers []string, redisURL string) *env {
	t.Helper()
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	auth, err := httpapi.NewAuth([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, rdb: rdb, auth: auth, topic: testinfra.Topic(t, "payments")}
	e.cfg = service.Config{Brokers: brokers, Redis: rdb, Auth: auth, Name: groupName(t), Topics: []string{e.topic},
		KeyPrefix: testinfra.KeyPrefix(t), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
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

// groupName is a subscriber name unique to the test (so its group and
// dead-letter topic are its own on a shared broker).
func groupName(t testing.TB) string {
	n := strings.ToLower(strings.NewReplacer(".", "-", "_", "-").Replace(testinfra.UniqueName(t, "loyalty")))
	if len(n) > 60 {
		n = "l-" + n[len(n)-58:]
	}
	return n
}

// publish sends msgs as the relay does: key the stream, the design's
// headers, the event id deterministic from stream and revision (so a
// re-publication is a duplicate).
func (e *env) publish(msgs ...msg) {
	e.t.Helper()
	batch := make([]*sarama.ProducerMessage, 0, len(msgs))
	at := time.Now().UTC()
	for _, m := range msgs {
		b, err := json.Marshal(m.event)
		if err != nil {
			e.t.Fatal(err)
		}
		rev := strconv.FormatUint(m.revision, 10)
		h := map[string]string{
			messaging.HeaderEventID:     m.stream + "@" + rev,
			messaging.HeaderEventType:   m.event.EventType(),
			messaging.HeaderStream:      m.stream,
			messaging.HeaderRevision:    rev,
			messaging.HeaderOccurredAt:  at.Format(time.RFC3339Nano),
			messaging.HeaderContentType: messaging.ContentTypeJSON,
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

// start runs a loyalty service with its API on an httptest server until
// the test ends or stop is called.
func (e *env) start(cfg service.Config) (svc *service.Service, url string, stop func()) {
	e.t.Helper()
	svc, err := service.New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = svc.Close() })
	api := httpapi.New(httpapi.Config{Logger: cfg.Logger})
	svc.Routes(api)
	srv := httptest.NewServer(api)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	var stopped bool
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			e.t.Errorf("service run: %v", err)
		}
		srv.Close()
	}
	e.t.Cleanup(stop)
	return svc, srv.URL, stop
}

// orders is a history of n orders' payment events over a few customers:
// every order captured (amounts with odd cents, so flooring matters), one
// in four refunded after a cancellation, one in ten failed outright. It
// returns the messages and the points each customer must end with: the
// value of their confirmed orders in whole currency units.
func orders(rng *rand.Rand, from, n int) ([]msg, map[string]int64) {
	var out []msg
	want := map[string]int64{}
	for i := from; i < from+n; i++ {
		order := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		customer := fmt.Sprintf("cust-%02d", i%13)
		stream := "payments.payment-" + order
		if i%10 == 9 {
			out = append(out, msg{stream, 1, events.PaymentFailed{OrderID: order, CustomerID: customer, Reason: events.ReasonCardDeclined}})
			continue
		}
		amount := int64(rng.IntN(50_000) + 1)
		out = append(out, msg{stream, 1, events.PaymentCaptured{OrderID: order, CustomerID: customer, PaymentID: fmt.Sprintf("00000000-0000-4000-9000-%012d", i),
			AmountCents: amount, Method: "wallet"}})
		if i%4 == 3 {
			out = append(out, msg{stream, 3, events.PaymentRefunded{OrderID: order, CustomerID: customer, AmountCents: amount}})
			want[customer] += 0
			continue
		}
		want[customer] += amount / 100
	}
	return out, want
}

func merge(a, b map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range a {
		out[k] += v
	}
	for k, v := range b {
		out[k] += v
	}
	return out
}

// settled waits until the group has consumed everything on the topic (so
// duplicates were seen, not merely still queued) and every customer has the
// points of want.
func (e *env) settled(svc *service.Service, model *points.Model, want map[string]int64) {
	e.t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(90 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		last = ""
		lag, err := svc.Subscriber().Lag()
		if err != nil {
			last = err.Error()
		}
		for _, l := range lag {
			if l.Lag > 0 {
				last = fmt.Sprintf("lag %d on %s/%d", l.Lag, l.Topic, l.Partition)
			}
		}
		for c, w := range want {
			if last != "" {
				break
			}
			a, err := model.Account(ctx, e.rdb, c)
			if err != nil {
				e.t.Fatal(err)
			}
			if a.Points != w {
				last = fmt.Sprintf("%s has %d points, want %d", c, a.Points, w)
			}
		}
		if last == "" {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.t.Fatalf("loyalty did not settle: %s", last)
}

// TestLoyaltyCatchesUpFollowsLiveAndIgnoresRedelivery: started after 200
// orders' payment events are on the topic, loyalty catches up to exactly
// the points the confirmed orders imply; then live events and duplicates
// of all history keep it exact; a restart resumes from Redis without
// double counting; and a model under an empty key space (an emptied Redis)
// rebuilds the same points from the oldest offsets.
func TestLoyaltyCatchesUpFollowsLiveAndIgnoresRedelivery(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, brokers []string, redisURL string) {
		e := newEnv(t, brokers, redisURL)
		rng := rand.New(rand.NewPCG(1, 2))
		history, want := orders(rng, 0, 200)
		e.publish(history...)

		svc, _, stop := e.start(e.cfg)
		e.settled(svc, svc.Model(), want)

		live, wantLive := orders(rng, 200, 40)
		want = merge(want, wantLive)
		e.publish(live...)
		e.publish(history...) // a relay re-publishing everything after a crash
		e.settled(svc, svc.Model(), want)
		stop()

		// A restart seeks from the offsets stored with the points.
		more, wantMore := orders(rng, 240, 20)
		want = merge(want, wantMore)
		e.publish(more...)
		svc2, _, stop2 := e.start(e.cfg)
		e.settled(svc2, svc2.Model(), want)
		stop2()

		// Empty Redis (a fresh key space), same group: rebuilt from history.
		fresh := e.cfg
		fresh.KeyPrefix = testinfra.KeyPrefix(t)
		svc3, _, _ := e.start(fresh)
		e.settled(svc3, svc3.Model(), want)
		a, err := svc3.Model().Account(context.Background(), e.rdb, "cust-03")
		if err != nil {
			t.Fatal(err)
		}
		if a.Points != a.Earned-a.Reversed || a.Reversed == 0 {
			t.Fatalf("account %+v: want points = earned - reversed, with refunds reversed", a)
		}
	})
}

// TestLoyaltyLag: caught up, the model is 0 records behind and its newest
// applied time is the events' occurred-at; records published while it is
// stopped count as behind.
func TestLoyaltyLag(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, brokers []string, redisURL string) {
		e := newEnv(t, brokers, redisURL)
		rng := rand.New(rand.NewPCG(3, 4))
		history, want := orders(rng, 0, 20)
		before := time.Now().Truncate(time.Millisecond)
		e.publish(history...)
		after := time.Now()
		svc, _, stop := e.start(e.cfg)
		e.settled(svc, svc.Model(), want)
		ctx := context.Background()
		l, err := svc.Lag(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if l.Behind != 0 || l.NewestApplied.Before(before) || l.NewestApplied.After(after) {
			t.Fatalf("caught-up lag %+v, want 0 behind and newest applied between %v and %v", l, before, after)
		}
		stop()
		more, _ := orders(rng, 20, 5)
		e.publish(more...)
		if l, err = svc.Lag(ctx); err != nil || l.Behind != int64(len(more)) {
			t.Fatalf("lag after %d records while stopped: %+v, %v", len(more), l, err)
		}
	})
}

// TestLoyaltyAPI: only the customer or an admin reads an account; no or
// a bad token is 401, another customer 403, both as problem+json.
func TestLoyaltyAPI(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, brokers []string, redisURL string) {
		e := newEnv(t, brokers, redisURL)
		e.publish(msg{"payments.payment-o1", 1, events.PaymentCaptured{OrderID: "7d0c6f2e-2f4f-4f7e-9a53-0b9c1f3d2a11", CustomerID: "alice", PaymentID: "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f", AmountCents: 12_345, Method: "card"}})
		svc, url, _ := e.start(e.cfg)
		e.settled(svc, svc.Model(), map[string]int64{"alice": 123})

		tok := func(sub, role string) string {
			s, err := e.auth.Issue(sub, role, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		for _, tc := range []struct {
			name, path, bearer string
			status             int
			points             int64
		}{
			{"owner", "/api/customers/alice/loyalty", tok("alice", httpapi.RoleCustomer), 200, 123},
			{"admin", "/api/customers/alice/loyalty", tok("root", httpapi.RoleAdmin), 200, 123},
			{"never bought", "/api/customers/bob/loyalty", tok("bob", httpapi.RoleCustomer), 200, 0},
			{"other customer", "/api/customers/alice/loyalty", tok("bob", httpapi.RoleCustomer), 403, 0},
			{"no token", "/api/customers/alice/loyalty", "", 401, 0},
			{"bad token", "/api/customers/alice/loyalty", "not-a-jwt", 401, 0},
		} {
			req, _ := http.NewRequest(http.MethodGet, url+tc.path, nil)
			if tc.bearer != "" {
				req.Header.Set("Authorization", "Bearer "+tc.bearer)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("%s: status %d, want %d: %s", tc.name, resp.StatusCode, tc.status, body)
			}
			if tc.status != 200 {
				if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
					t.Fatalf("%s: content type %q, want problem+json", tc.name, ct)
				}
				continue
			}
			var a points.Account
			if err := json.Unmarshal(body, &a); err != nil {
				t.Fatal(err)
			}
			if a.Points != tc.points {
				t.Fatalf("%s: %d points, want %d", tc.name, a.Points, tc.points)
			}
		}
	})
}

// TestLoyaltyResetMovesStoredPositionAndCountsOnce: a reset of the running
// loyalty subscriber to the earliest offsets re-drives all history into it
// and moves the position stored with the points (so a restart does not
// undo it); the points do not change, since every event applies once.
func TestLoyaltyResetMovesStoredPositionAndCountsOnce(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, brokers []string, redisURL string) {
		e := newEnv(t, brokers, redisURL)
		rng := rand.New(rand.NewPCG(3, 4))
		history, want := orders(rng, 0, 60)
		e.publish(history...)
		svc, _, _ := e.start(e.cfg)
		e.settled(svc, svc.Model(), want)
		ctx := context.Background()
		before, err := svc.Model().Offsets(ctx, e.rdb)
		if err != nil || len(before) == 0 {
			t.Fatalf("stored offsets before the reset: %v, %v", before, err)
		}

		to, err := svc.Subscribers()[0].Reset(ctx, messaging.ResetTo{Earliest: true})
		if err != nil || len(to) == 0 {
			t.Fatalf("reset = %v, %v", to, err)
		}
		after, err := svc.Model().Offsets(ctx, e.rdb)
		if err != nil {
			t.Fatal(err)
		}
		for _, po := range to {
			f := readmodel.OffsetField(po.Topic, po.Partition)
			if got, ok := after[f]; !ok || got != po.Offset {
				t.Fatalf("stored offset of %s after the reset = %d (before %d), want moved back to %d", f, got, before[f], po.Offset)
			}
		}
		// The replay re-consumes everything (lag back to 0) and counts nothing twice.
		e.settled(svc, svc.Model(), want)
	})
}
