package service_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/redis/go-redis/v9"

	"github.com/troupe-dev/troupe/projections/internal/scenario"
	"github.com/troupe-dev/troupe/projections/model"
	"github.com/troupe-dev/troupe/projections/service"
	"github.com/troupe-dev/troupe/shared/events"
	"github.com/troupe-dev/troupe/shared/platform/httpapi"
	"github.com/troupe-dev/troupe/shared/platform/messaging"
	"github.com/troupe-dev/troupe/shared/platform/readmodel"
	"github.com/troupe-dev/troupe/shared/platform/testinfra"
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

// env is one test's platform: unique topics, key root and group.
type env struct {
	t       testing.TB
	brokers []string
	rdb     *redis.Client
	topics  map[string]string // context -> topic
	cfg     service.Config
	auth    *httpapi.Auth
	prod    sarama.SyncProducer
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
	e := &env{t: t, brokers: brokers, rdb: rdb, auth: auth, topics: map[string]string{}}
	var topics []string
	for _, c := range []string{events.ContextCatalog, events.ContextOrdering, events.ContextPayments} {
		e.topics[c] = testinfra.Topic(t, c)
		topics = append(topics, e.topics[c])
	}
	name := strings.ToLower(strings.NewReplacer(".", "-", "_", "-").Replace(testinfra.UniqueName(t, "p")))
	if len(name) > 60 {
		name = "p-" + name[len(name)-58:]
	}
	e.cfg = service.Config{Brokers: brokers, Redis: rdb, Auth: auth, Name: name, Topics: topics,
		KeyRoot: testinfra.KeyPrefix(t), ConsistencyTimeout: 2 * time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	// The model's keys go with the test (before the client closes), so
	// repeated runs against one redis-server do not slow each other's
	// SCANs (a rebuild's drop of the old generation scans every key).
	t.Cleanup(func() { dropRoot(context.Background(), rdb, e.cfg.KeyRoot) })
	sc := messaging.NewSaramaConfig("test-relay")
	if err := messaging.EnsureTopics(brokers, sc, topics...); err != nil {
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

// publish sends msgs as the relay does: topic of the context, key the
// stream, the design's headers, the record timestamp the occurred-at.
func (e *env) publish(msgs ...scenario.Msg) {
	e.t.Helper()
	batch := make([]*sarama.ProducerMessage, 0, len(msgs))
	for _, m := range msgs {
		b, err := json.Marshal(m.Event)
		if err != nil {
			e.t.Fatal(err)
		}
		typ := m.Event.EventType()
		h := map[string]string{
			messaging.HeaderEventID:     m.Stream + "@" + strconv.FormatUint(m.Revision, 10),
			messaging.HeaderEventType:   typ,
			messaging.HeaderStream:      m.Stream,
			messaging.HeaderRevision:    strconv.FormatUint(m.Revision, 10),
			messaging.HeaderOccurredAt:  m.OccurredAt.UTC().Format(time.RFC3339Nano),
			messaging.HeaderContentType: messaging.ContentTypeJSON,
		}
		var rh []sarama.RecordHeader
		for k, v := range h {
			rh = append(rh, sarama.RecordHeader{Key: []byte(k), Value: []byte(v)})
		}
		batch = append(batch, &sarama.ProducerMessage{Topic: e.topics[events.ContextOf(typ)], Key: sarama.StringEncoder(m.Stream),
			Value: sarama.ByteEncoder(b), Headers: rh, Timestamp: m.OccurredAt})
	}
	if err := e.prod.SendMessages(batch); err != nil {
		e.t.Fatalf("publish: %v", err)
	}
}

// start runs a projections service with its API on an httptest server
// until the test ends (or stop is called).
func (e *env) start() (svc *service.Service, url string, stop func()) {
	e.t.Helper()
	svc, err := service.New(e.cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = svc.Close() })
	api := httpapi.New(httpapi.Config{Ready: svc.Ready, Logger: e.cfg.Logger})
	svc.Routes(api)
	srv := httptest.NewServer(api)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	var once bool
	stop = func() {
		if once {
			return
		}
		once = true
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			e.t.Errorf("service run: %v", err)
		}
		srv.Close()
	}
	e.t.Cleanup(stop)
	return svc, srv.URL, stop
}

// reference builds the model of msgs directly (no Kafka) under its own
// root and returns its checksum: what the service must converge to.
func (e *env) reference(msgs []scenario.Msg) string {
	e.t.Helper()
	ctx := context.Background()
	m := model.New(testinfra.KeyPrefix(e.t))
	gen, err := m.Namespace().Create(ctx, e.rdb, readmodel.NewGeneration())
	if err != nil {
		e.t.Fatal(err)
	}
	for _, msg := range msgs {
		ev, err := model.Encode(msg.Event, model.Source{Stream: msg.Stream, Revision: msg.Revision, OccurredAt: msg.OccurredAt})
		if err != nil {
			e.t.Fatal(err)
		}
		if _, err := m.Applier().Apply(ctx, e.rdb, gen, ev); err != nil {
			e.t.Fatal(err)
		}
	}
	sum, err := m.Namespace().Checksum(ctx, e.rdb, gen)
	if err != nil {
		e.t.Fatal(err)
	}
	return sum
}

// liveChecksum is the checksum of the service's live generation.
func (e *env) liveChecksum() string {
	e.t.Helper()
	ctx := context.Background()
	ns := readmodel.Namespace{Root: e.cfg.KeyRoot}
	gen, err := ns.Live(ctx, e.rdb)
	if err != nil {
		e.t.Fatal(err)
	}
	sum, err := ns.Checksum(ctx, e.rdb, gen)
	if err != nil {
		e.t.Fatal(err)
	}
	return sum
}

// token returns "<stream>@<revision>" items for the last event of each
// stream in msgs, as commands' Troupe-Consistency would name them.
func token(msgs []scenario.Msg) string {
	last := map[string]uint64{}
	var order []string
	for _, m := range msgs {
		if _, ok := last[m.Stream]; !ok {
			order = append(order, m.Stream)
		}
		last[m.Stream] = m.Revision
	}
	items := make([]string, len(order))
	for i, s := range order {
		items[i] = s + "@" + strconv.FormatUint(last[s], 10)
	}
	return strings.Join(items, ",")
}

// get does a GET with an optional bearer token and consistency token and
// decodes a JSON answer into out (if not nil).
func get(t testing.TB, url, bearer, consistency string, out any) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if consistency != "" {
		req.Header.Set(httpapi.HeaderConsistency, consistency)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("GET %s: %v in %s", url, err, body)
		}
	}
	return resp
}

func (e *env) issue(sub, role string) string {
	e.t.Helper()
	tok, err := e.auth.Issue(sub, role, time.Hour)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// waitFor waits until the model applied consistency, failing after 60 s.
func (e *env) waitFor(consistency string) {
	e.t.Helper()
	items, err := httpapi.ParseConsistency(consistency)
	if err != nil {
		e.t.Fatal(err)
	}
	want := make([]readmodel.Want, len(items))
	for i, it := range items {
		want[i] = readmodel.Want{Stream: it.Stream, Revision: it.Revision}
	}
	ns := readmodel.Namespace{Root: e.cfg.KeyRoot}
	if err := ns.WaitApplied(context.Background(), e.rdb, want, 60*time.Second, 20*time.Millisecond); err != nil {
		e.t.Fatalf("model did not catch up: %v", err)
	}
}
