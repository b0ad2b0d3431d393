package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/troupe-dev/troupe/shared/platform/httpapi"
)

// The gateway is tested in-process against httptest servers standing in
// for the components: each records what reached it and answers with its
// own name, so a test sees which component served a path and what the
// gateway forwarded both ways.

var secret = []byte("gateway-test-secret-of-at-least-32-bytes!")

// seen is one request as a fake component received it.
type seen struct {
	Method, Path, Query string
	Header              http.Header
	Body                string
}

// fakeComponent is an httptest server standing in for one component.
type fakeComponent struct {
	name string
	srv  *httptest.Server

	mu       sync.Mutex
	requests []seen
	// subscribers, when not nil, makes it serve the admin API for them.
	subscribers []string
	// notReady makes /readyz answer 503.
	notReady bool
}

func newFakeComponent(t *testing.T, name string, subscribers ...string) *fakeComponent {
	t.Helper()
	f := &fakeComponent{name: name, subscribers: subscribers}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeComponent) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.requests = append(f.requests, seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), string(body)})
	notReady, subs := f.notReady, f.subscribers
	f.mu.Unlock()

	if r.URL.Path == "/readyz" {
		if notReady {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	if strings.HasPrefix(r.URL.Path, "/api/admin/subscribers") {
		f.serveAdmin(w, r, subs)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(httpapi.HeaderConsistency, f.name+".stream-1@7")
	if r.Method == http.MethodPost && r.URL.Path == "/api/orders" {
		w.Header().Set("Location", "/api/orders/o-1")
		w.WriteHeader(http.StatusAccepted)
	} else {
		w.WriteHeader(http.StatusOK)
	}
	_ = json.NewEncoder(w).Encode(map[string]string{"component": f.name, "path": r.URL.Path})
}

func (f *fakeComponent) serveAdmin(w http.ResponseWriter, r *http.Request, subs []string) {
	if subs == nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Path == "/api/admin/subscribers" {
		items := []map[string]any{}
		for _, s := range subs {
			items = append(items, map[string]any{"name": s, "component": f.name, "state": "running", "topics": []string{"ordering.events"}})
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"items": items})
		return
	}
	name := strings.Split(strings.TrimPrefix(r.URL.Path, "/api/admin/subscribers/"), "/")[0]
	for _, s := range subs {
		if s == name {
			_ = json.NewEncoder(w).Encode(map[string]any{"name": name, "servedBy": f.name})
			return
		}
	}
	w.Header().Set("Content-Type", httpapi.ContentTypeProblem)
	w.WriteHeader(http.StatusNotFound)
	_, _ = io.WriteString(w, `{"status":404}`)
}

func (f *fakeComponent) received() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.requests...)
}

// fleet is one fake per component.
type fleet map[string]*fakeComponent

func newFleet(t *testing.T) fleet {
	return fleet{
		Catalog:     newFakeComponent(t, Catalog, "catalog"),
		Ordering:    newFakeComponent(t, Ordering, "ordering"),
		Payments:    newFakeComponent(t, Payments, "payments"),
		Projections: newFakeComponent(t, Projections, "projections"),
		Loyalty:     newFakeComponent(t, Loyalty, "loyalty"),
		Webhook:     newFakeComponent(t, Webhook, "webhook-crm", "webhook-audit"),
	}
}

func (f fleet) upstreams() Upstreams {
	return Upstreams{Catalog: f[Catalog].srv.URL, Ordering: f[Ordering].srv.URL, Payments: f[Payments].srv.URL,
		Projections: f[Projections].srv.URL, Loyalty: f[Loyalty].srv.URL, Webhook: f[Webhook].srv.URL}
}

// harness is a gateway under test with its tokens.
type harness struct {
	t     *testing.T
	h     http.Handler
	auth  *httpapi.Auth
	admin string
	alice string // customer alice
	bob   string // customer bob
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	auth, err := httpapi.NewAuth(secret)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Auth = auth
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := &harness{t: t, h: h, auth: auth}
	hs.admin = hs.token("ops", httpapi.RoleAdmin)
	hs.alice = hs.token("alice", httpapi.RoleCustomer)
	hs.bob = hs.token("bob", httpapi.RoleCustomer)
	return hs
}

func (hs *harness) token(sub, role string) string {
	hs.t.Helper()
	tok, err := hs.auth.Issue(sub, role, time.Hour)
	if err != nil {
		hs.t.Fatal(err)
	}
	return tok
}

// do sends one request through the gateway; headers are name, value pairs.
func (hs *harness) do(method, path, token string, body io.Reader, headers ...string) *httptest.ResponseRecorder {
	hs.t.Helper()
	req := httptest.NewRequest(method, path, body)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	hs.h.ServeHTTP(rec, req)
	return rec
}

// wantProblem fails unless rec is a problem+json answer with status.
func wantProblem(t *testing.T, rec *httptest.ResponseRecorder, status int) map[string]any {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d, want %d: %s", rec.Code, status, rec.Body.String())
	}
	if ct := rec.Header().Get("Content-Type"); ct != httpapi.ContentTypeProblem {
		t.Fatalf("content type %q, want %q (body %s)", ct, httpapi.ContentTypeProblem, rec.Body.String())
	}
	var p map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("problem body %q: %v", rec.Body.String(), err)
	}
	if p["status"] != float64(status) {
		t.Fatalf("problem status %v, want %d", p["status"], status)
	}
	return p
}

// TestRoutesEveryDesignPath: each path of the design's HTTP API reaches
// its component unchanged (method, path, query, body), with the headers
// the design names forwarded both ways.
func TestRoutesEveryDesignPath(t *testing.T) {
	t.Parallel()
	f := newFleet(t)
	hs := newHarness(t, Config{Upstreams: f.upstreams()})
	cases := []struct {
		method, path, token, component string
		want                           int
	}{
		{"POST", "/api/catalog/products", hs.admin, Catalog, 200},
		{"PUT", "/api/catalog/products/SKU-1/price", hs.admin, Catalog, 200},
		{"POST", "/api/catalog/products/SKU-1/stock", hs.admin, Catalog, 200},
		{"POST", "/api/orders", hs.alice, Ordering, 202},
		{"POST", "/api/orders/o-1/cancel", hs.alice, Ordering, 200},
		{"POST", "/api/customers/alice/wallet/deposits", hs.alice, Payments, 200},
		{"POST", "/api/customers/alice/wallet/deposits", hs.admin, Payments, 200},
		{"GET", "/api/products?limit=5&cursor=abc", "", Projections, 200},
		{"GET", "/api/products/SKU-1", "", Projections, 200},
		{"GET", "/api/orders/o-1", hs.bob, Projections, 200},
		{"GET", "/api/customers/alice/orders?status=CONFIRMED&limit=3", hs.alice, Projections, 200},
		{"GET", "/api/customers/alice/wallet", hs.admin, Projections, 200},
		{"GET", "/api/stats/sales", hs.admin, Projections, 200},
		{"GET", "/api/customers/alice/loyalty", hs.alice, Loyalty, 200},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			var body io.Reader
			if tc.method != "GET" {
				body = strings.NewReader(`{"probe":"` + tc.path + `"}`)
			}
			rec := hs.do(tc.method, tc.path, tc.token, body,
				"X-Request-Id", "req-"+tc.path, "Idempotency-Key", "idem-1", httpapi.HeaderConsistency, "ordering.order-1@3",
				"Content-Type", "application/json")
			if rec.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.want, rec.Body.String())
			}
			var answer map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil {
				t.Fatal(err)
			}
			if answer["component"] != tc.component {
				t.Fatalf("served by %q, want %q", answer["component"], tc.component)
			}
			if got := rec.Header().Get(httpapi.HeaderConsistency); got != tc.component+".stream-1@7" {
				t.Fatalf("Troupe-Consistency back %q", got)
			}
			if got := rec.Header().Values("X-Request-Id"); len(got) != 1 || got[0] != "req-"+tc.path {
				t.Fatalf("X-Request-Id back %q", got)
			}
			reqs := f[tc.component].received()
			var r *seen
			for i := range reqs {
				if reqs[i].Header.Get("X-Request-Id") == "req-"+tc.path && reqs[i].Method == tc.method {
					r = &reqs[i]
				}
			}
			if r == nil {
				t.Fatalf("%s did not receive the request; it saw %v", tc.component, reqs)
			}
			path, query, _ := strings.Cut(tc.path, "?")
			if r.Path != path || r.Query != query {
				t.Fatalf("component saw %s?%s, want %s", r.Path, r.Query, tc.path)
			}
			wantAuth := ""
			if tc.token != "" {
				wantAuth = "Bearer " + tc.token
			}
			for k, v := range map[string]string{"Authorization": wantAuth, "Idempotency-Key": "idem-1",
				httpapi.HeaderConsistency: "ordering.order-1@3", "Content-Type": "application/json"} {
				if got := r.Header.Get(k); got != v {
					t.Fatalf("component saw %s %q, want %q", k, got, v)
				}
			}
			if body != nil && r.Body != `{"probe":"`+tc.path+`"}` {
				t.Fatalf("component saw body %q", r.Body)
			}
			if tc.method == "POST" && path == "/api/orders" && rec.Header().Get("Location") != "/api/orders/o-1" {
				t.Fatalf("Location %q", rec.Header().Get("Location"))
			}
		})
	}
}

// TestRequestIDGenerated: a request without X-Request-Id gets one, the
// same at the component and in the answer.
func TestRequestIDGenerated(t *testing.T) {
	t.Parallel()
	f := newFleet(t)
	hs := newHarness(t, Config{Upstreams: f.upstreams()})
	rec := hs.do("GET", "/api/products", "", nil)
	id := rec.Header().Get("X-Request-Id")
	if rec.Code != 200 || id == "" {
		t.Fatalf("status %d, X-Request-Id %q", rec.Code, id)
	}
	reqs := f[Projections].received()
	if len(reqs) != 1 || reqs[0].Header.Get("X-Request-Id") != id {
		t.Fatalf("component saw %v, want X-Request-Id %q", reqs, id)
	}
}

// TestAuthRefusals: 401 without a valid token, 403 for the wrong role and
// for another customer's path, all problem+json, none reaching a component.
func TestAuthRefusals(t *testing.T) {
	t.Parallel()
	f := newFleet(t)
	hs := newHarness(t, Config{Upstreams: f.upstreams()})
	other, err := httpapi.NewAuth([]byte("another-secret-of-at-least-32-bytes-long"))
	if err != nil {
		t.Fatal(err)
	}
	forged, err := other.Issue("alice", httpapi.RoleAdmin, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, method, path, token string
		want                      int
	}{
		{"no token on a query", "GET", "/api/orders/o-1", "", 401},
		{"no token on a command", "POST", "/api/orders", "", 401},
		{"forged token", "GET", "/api/stats/sales", forged, 401},
		{"garbage token", "GET", "/api/customers/alice/wallet", "not.a.jwt", 401},
		{"no token on admin API", "GET", "/api/admin/subscribers", "", 401},
		{"customer lists a product", "POST", "/api/catalog/products", hs.alice, 403},
		{"customer reprices", "PUT", "/api/catalog/products/SKU-1/price", hs.alice, 403},
		{"customer reads sales", "GET", "/api/stats/sales", hs.alice, 403},
		{"customer on admin API", "GET", "/api/admin/subscribers", hs.alice, 403},
		{"customer resets a subscriber", "POST", "/api/admin/subscribers/loyalty/reset", hs.alice, 403},
		{"admin places an order", "POST", "/api/orders", hs.admin, 403},
		{"bob reads alice's wallet", "GET", "/api/customers/alice/wallet", hs.bob, 403},
		{"bob deposits for alice", "POST", "/api/customers/alice/wallet/deposits", hs.bob, 403},
		{"bob reads alice's orders", "GET", "/api/customers/alice/orders", hs.bob, 403},
		{"bob reads alice's loyalty", "GET", "/api/customers/alice/loyalty", hs.bob, 403},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := hs.do(tc.method, tc.path, tc.token, strings.NewReader(`{}`))
			wantProblem(t, rec, tc.want)
		})
	}
	for name, c := range f {
		for _, r := range c.received() {
			t.Errorf("%s received %s %s although every request was refused", name, r.Method, r.Path)
		}
	}
}

// TestUnknownPath: a path outside the design's API is a 404 problem.
func TestUnknownPath(t *testing.T) {
	t.Parallel()
	f := newFleet(t)
	hs := newHarness(t, Config{Upstreams: f.upstreams()})
	wantProblem(t, hs.do("GET", "/api/nothing-here", hs.admin, nil), 404)
}

// TestBodyLimit: a body of exactly 64 KiB passes, one byte more is a 413,
// whether its length is declared or the body is streamed without one.
func TestBodyLimit(t *testing.T) {
	t.Parallel()
	f := newFleet(t)
	hs := newHarness(t, Config{Upstreams: f.upstreams()})
	at := bytes.Repeat([]byte("a"), httpapi.MaxBodyBytes)
	over := bytes.Repeat([]byte("a"), httpapi.MaxBodyBytes+1)

	if rec := hs.do("POST", "/api/orders", hs.alice, bytes.NewReader(at)); rec.Code != 202 {
		t.Fatalf("64 KiB: status %d: %s", rec.Code, rec.Body.String())
	}
	wantProblem(t, hs.do("POST", "/api/orders", hs.alice, bytes.NewReader(over)), 413)

	// Streamed: no Content-Length, so only reading the body finds it too big.
	req := httptest.NewRequest("POST", "/api/orders", io.MultiReader(bytes.NewReader(over)))
	req.ContentLength = -1
	req.Header.Set("Authorization", "Bearer "+hs.alice)
	rec := httptest.NewRecorder()
	hs.h.ServeHTTP(rec, req)
	wantProblem(t, rec, 413)

	var sizes []int
	for _, r := range f[Ordering].received() {
		sizes = append(sizes, len(r.Body))
	}
	if len(sizes) != 1 || sizes[0] != httpapi.MaxBodyBytes {
		t.Fatalf("ordering received bodies of sizes %v, want only the 64 KiB one", sizes)
	}
}

// TestRateLimitPerSubject: a subject past its burst gets 429 with
// Retry-After; another subject, and anonymous callers from another IP,
// are not affected.
func TestRateLimitPerSubject(t *testing.T) {
	t.Parallel()
	f := newFleet(t)
	// 0.01/s: a token comes back after 100 s, so the bucket cannot refill
	// while the test runs.
	hs := newHarness(t, Config{Upstreams: f.upstreams(), RateLimit: 0.01, RateBurst: 2})
	for i := range 2 {
		if rec := hs.do("GET", "/api/customers/alice/wallet", hs.alice, nil); rec.Code != 200 {
			t.Fatalf("request %d within the burst: %d", i, rec.Code)
		}
	}
	rec := hs.do("GET", "/api/customers/alice/wallet", hs.alice, nil)
	wantProblem(t, rec, 429)
	if ra := rec.Header().Get("Retry-After"); ra == "" || ra == "0" {
		t.Fatalf("Retry-After %q", ra)
	}
	// A second token of the same subject shares the bucket.
	rec = hs.do("GET", "/api/customers/alice/orders", hs.token("alice", httpapi.RoleCustomer), nil)
	wantProblem(t, rec, 429)
	// Bob is another subject.
	if rec := hs.do("GET", "/api/customers/bob/wallet", hs.bob, nil); rec.Code != 200 {
		t.Fatalf("bob: %d", rec.Code)
	}

	// Anonymous callers are keyed by IP.
	anon := func(ip string) int {
		req := httptest.NewRequest("GET", "/api/products", nil)
		req.RemoteAddr = ip + ":40000"
		rec := httptest.NewRecorder()
		hs.h.ServeHTTP(rec, req)
		return rec.Code
	}
	got := []int{anon("10.0.0.1"), anon("10.0.0.1"), anon("10.0.0.1"), anon("10.0.0.2")}
	if want := []int{200, 200, 429, 200}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("anonymous statuses %v, want %v", got, want)
	}
	// Health probes are never limited.
	for range 5 {
		if rec := hs.do("GET", "/healthz", "", nil); rec.Code != 200 {
			t.Fatalf("healthz: %d", rec.Code)
		}
	}
}

// TestLimitersBounded: the limiter map never holds more than its bound,
// and evicts the least recently used subject.
func TestLimitersBounded(t *testing.T) {
	t.Parallel()
	l := newLimiters(0.001, 1, 2)
	now := time.Now()
	for _, k := range []string{"a", "b"} {
		if ok, _ := l.allow(k, now); !ok {
			t.Fatalf("%s: first request refused", k)
		}
	}
	if ok, wait := l.allow("a", now); ok || wait <= 0 {
		t.Fatalf("a's second request: ok %v, wait %v; want refused with a wait", ok, wait)
	}
	// "b" is now the least recently used; "c" evicts it.
	if ok, _ := l.allow("c", now); !ok {
		t.Fatal("c: first request refused")
	}
	if n := l.size(); n != 2 {
		t.Fatalf("size %d, want 2", n)
	}
	if ok, _ := l.allow("b", now); !ok {
		t.Fatal("b was evicted, so it starts with a full bucket")
	}
	// b's return evicted a (now the least recently used); c stays.
	if ok, _ := l.allow("c", now); ok {
		t.Fatal("c was not the one evicted; its bucket is still empty")
	}
}

// closedURL is a URL on which nothing listens.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// TestUnreachableThenBreakerOpen: a component that refuses connections is
// a 502; after BreakerFailures of them its breaker opens and the gateway
// answers 503 with Retry-After without trying; other components are not
// affected.
func TestUnreachableThenBreakerOpen(t *testing.T) {
	t.Parallel()
	f := newFleet(t)
	up := f.upstreams()
	up.Ordering = closedURL(t)
	hs := newHarness(t, Config{Upstreams: up, BreakerFailures: 3, BreakerOpenTimeout: 90 * time.Second})
	for range 3 {
		p := wantProblem(t, hs.do("POST", "/api/orders", hs.alice, strings.NewReader(`{}`)), 502)
		if !strings.Contains(fmt.Sprint(p["detail"]), "ordering") {
			t.Fatalf("502 detail %q does not name ordering", p["detail"])
		}
	}
	rec := hs.do("POST", "/api/orders/o-1/cancel", hs.alice, nil)
	wantProblem(t, rec, 503)
	if ra := rec.Header().Get("Retry-After"); ra != "90" {
		t.Fatalf("Retry-After %q, want 90 (the open timeout)", ra)
	}
	if rec := hs.do("GET", "/api/products", "", nil); rec.Code != 200 {
		t.Fatalf("projections behind a closed ordering breaker: %d", rec.Code)
	}
}

// TestBreakerRecovers: once the open timeout passes, one probe goes
// through and, when it succeeds, the breaker closes again.
func TestBreakerRecovers(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	down := true
	ordering := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		d := down
		mu.Unlock()
		if d {
			// Drop the connection: a transport failure, as a crash would be.
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(ordering.Close)
	f := newFleet(t)
	up := f.upstreams()
	up.Ordering = ordering.URL
	hs := newHarness(t, Config{Upstreams: up, BreakerFailures: 1, BreakerOpenTimeout: 50 * time.Millisecond})

	wantProblem(t, hs.do("POST", "/api/orders", hs.alice, strings.NewReader(`{}`)), 502)
	wantProblem(t, hs.do("POST", "/api/orders", hs.alice, strings.NewReader(`{}`)), 503)
	mu.Lock()
	down = false
	mu.Unlock()
	// Poll until the open timeout has passed; no assertion on how long.
	deadline := time.Now().Add(10 * time.Second)
	for {
		rec := hs.do("POST", "/api/orders", hs.alice, strings.NewReader(`{}`))
		if rec.Code == 202 {
			break
		}
		if rec.Code != 503 || time.Now().After(deadline) {
			t.Fatalf("status %d while waiting for the breaker to close: %s", rec.Code, rec.Body.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if rec := hs.do("POST", "/api/orders", hs.alice, strings.NewReader(`{}`)); rec.Code != 202 {
		t.Fatalf("after recovery: %d", rec.Code)
	}
}

// TestUpstreamTimeout: a component that does not answer within the
// upstream timeout is a 504.
func TestUpstreamTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); slow.Close() })
	f := newFleet(t)
	up := f.upstreams()
	up.Projections = slow.URL
	hs := newHarness(t, Config{Upstreams: up, UpstreamTimeout: 100 * time.Millisecond})
	p := wantProblem(t, hs.do("GET", "/api/products/SKU-1", "", nil), 504)
	if !strings.Contains(fmt.Sprint(p["detail"]), "projections") {
		t.Fatalf("504 detail %q does not name projections", p["detail"])
	}
}

// TestReadyz: the gateway is ready when every component's /readyz
// answers 200, and names the ones that do not.
func TestReadyz(t *testing.T) {
	t.Parallel()
	f := newFleet(t)
	hs := newHarness(t, Config{Upstreams: f.upstreams()})
	if rec := hs.do("GET", "/readyz", "", nil); rec.Code != 200 {
		t.Fatalf("all ready: %d %s", rec.Code, rec.Body.String())
	}
	f[Loyalty].mu.Lock()
	f[Loyalty].notReady = true
	f[Loyalty].mu.Unlock()
	rec := hs.do("GET", "/readyz", "", nil)
	p := wantProblem(t, rec, 503)
	if d := fmt.Sprint(p["detail"]); !strings.Contains(d, "loyalty") || strings.Contains(d, "catalog") {
		t.Fatalf("readyz detail %q should name loyalty alone", d)
	}

	up := f.upstreams()
	up.Payments = closedURL(t)
	hs2 := newHarness(t, Config{Upstreams: up})
	p = wantProblem(t, hs2.do("GET", "/readyz", "", nil), 503)
	if !strings.Contains(fmt.Sprint(p["detail"]), "payments") {
		t.Fatalf("readyz detail %q should name payments", p["detail"])
	}
	if rec := hs2.do("GET", "/healthz", "", nil); rec.Code != 200 {
		t.Fatalf("healthz: %d", rec.Code)
	}
}

// TestAdminFanOut: the subscriber list merges every component's (a
// component without the admin API adds nothing), and a subscriber's routes
// reach the component that runs it.
func TestAdminFanOut(t *testing.T) {
	t.Parallel()
	f := newFleet(t)
	f[Catalog].subscribers = nil // as if catalog had no admin API
	hs := newHarness(t, Config{Upstreams: f.upstreams()})

	rec := hs.do("GET", "/api/admin/subscribers", hs.admin, nil)
	if rec.Code != 200 {
		t.Fatalf("list: %d %s", rec.Code, rec.Body.String())
	}
	var list struct {
		Items []struct{ Name, Component string }
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, it := range list.Items {
		names = append(names, it.Component+"/"+it.Name)
	}
	want := "[ordering/ordering payments/payments projections/projections loyalty/loyalty webhook/webhook-crm webhook/webhook-audit]"
	if fmt.Sprint(names) != want {
		t.Fatalf("merged list %v, want %s", names, want)
	}

	for _, tc := range []struct{ method, path, body, servedBy string }{
		{"POST", "/api/admin/subscribers/loyalty/reset", `{"to":"earliest"}`, Loyalty},
		{"GET", "/api/admin/subscribers/projections/dlq", "", Projections},
		{"POST", "/api/admin/subscribers/webhook-audit/dlq/redrive", `{"id":"x"}`, Webhook},
		{"POST", "/api/admin/subscribers/payments/dlq/redrive", `{}`, Payments},
	} {
		var body io.Reader
		if tc.body != "" {
			body = strings.NewReader(tc.body)
		}
		rec := hs.do(tc.method, tc.path, hs.admin, body, "Content-Type", "application/json")
		var got map[string]string
		if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &got) != nil || got["servedBy"] != tc.servedBy {
			t.Fatalf("%s %s: %d %s, want served by %s", tc.method, tc.path, rec.Code, rec.Body.String(), tc.servedBy)
		}
		rs := f[tc.servedBy].received()
		last := rs[len(rs)-1]
		if last.Path != tc.path || last.Body != tc.body || last.Header.Get("Authorization") != "Bearer "+hs.admin {
			t.Fatalf("%s saw %s %q auth %q", tc.servedBy, last.Path, last.Body, last.Header.Get("Authorization"))
		}
	}
	wantProblem(t, hs.do("POST", "/api/admin/subscribers/nobody/reset", hs.admin, strings.NewReader(`{"to":"earliest"}`)), 404)
}

// TestAdminFanOutWithAComponentDown: the list names the component that
// could not be asked; a subscriber not found elsewhere is a 502 naming it,
// not a 404, since it may run there.
func TestAdminFanOutWithAComponentDown(t *testing.T) {
	t.Parallel()
	f := newFleet(t)
	up := f.upstreams()
	up.Loyalty = closedURL(t)
	hs := newHarness(t, Config{Upstreams: up})
	rec := hs.do("GET", "/api/admin/subscribers", hs.admin, nil)
	var list subscriberList
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &list) != nil {
		t.Fatalf("list: %d %s", rec.Code, rec.Body.String())
	}
	if len(list.Items) != 6 || len(list.Unreachable) != 1 || list.Unreachable[0].Component != Loyalty {
		t.Fatalf("list with loyalty down: %s", rec.Body.String())
	}
	p := wantProblem(t, hs.do("POST", "/api/admin/subscribers/loyalty/reset", hs.admin, strings.NewReader(`{"to":"earliest"}`)), 502)
	if !strings.Contains(fmt.Sprint(p["detail"]), "loyalty") {
		t.Fatalf("502 detail %q does not name loyalty", p["detail"])
	}
	// Found elsewhere: the component down does not matter.
	if rec := hs.do("GET", "/api/admin/subscribers/ordering/dlq", hs.admin, nil); rec.Code != 200 {
		t.Fatalf("ordering dlq with loyalty down: %d", rec.Code)
	}
}

// TestConfigValidate: a missing or malformed upstream URL is a URLError
// naming the component.
func TestConfigValidate(t *testing.T) {
	t.Parallel()
	auth, err := httpapi.NewAuth(secret)
	if err != nil {
		t.Fatal(err)
	}
	f := newFleet(t)
	up := f.upstreams()
	up.Payments = ""
	_, err = New(Config{Auth: auth, Upstreams: up})
	if ue, ok := err.(*URLError); !ok || ue.Component != Payments {
		t.Fatalf("missing payments URL: %v", err)
	}
	up = f.upstreams()
	up.Loyalty = "loyalty:8080"
	_, err = New(Config{Auth: auth, Upstreams: up})
	if ue, ok := err.(*URLError); !ok || ue.Component != Loyalty {
		t.Fatalf("malformed loyalty URL: %v", err)
	}
	up = f.upstreams()
	up.Webhook = ""
	if _, err := New(Config{Auth: auth, Upstreams: up}); err != nil {
		t.Fatalf("webhook is optional: %v", err)
	}
	if _, err := New(Config{Upstreams: f.upstreams()}); err == nil {
		t.Fatal("no Auth accepted")
	}
}

func newTestAuth() (*httpapi.Auth, error) { return httpapi.NewAuth(secret) }
