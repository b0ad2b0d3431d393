package main

import (
	"crypto/rand"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/troupe-dev/troupe/shared/platform/testinfra"
)

// The admin commands (subscribers ls/reset, dlq ls/redrive, replay
// projection) run as subprocesses against a `troupe up` subprocess with a
// webhook whose receiver fails on purpose, so a real dead letter is made
// by the platform itself.

// receiver is a webhook endpoint that answers 500 for one customer's
// events while failing is set, and records what it acknowledged.
type receiver struct {
	srv     *httptest.Server
	failFor string // customer id
	failing atomic.Bool
	mu      sync.Mutex
	acked   map[string]int // envelope id -> times acknowledged
	failed  atomic.Int64
}

func newReceiver(t *testing.T, failFor string) *receiver {
	r := &receiver{acked: map[string]int{}, failFor: failFor}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var env struct {
			ID   string `json:"id"`
			Data struct {
				CustomerID string `json:"customerId"`
			} `json:"data"`
		}
		if err := json.NewDecoder(req.Body).Decode(&env); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if r.failing.Load() && env.Data.CustomerID == r.failFor {
			r.failed.Add(1)
			http.Error(w, "receiver down", http.StatusInternalServerError)
			return
		}
		r.mu.Lock()
		r.acked[env.ID]++
		r.mu.Unlock()
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) times(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.acked[id]
}

// cli runs troupe against p and wants exit 0; it returns stdout.
func cli(t *testing.T, p *platform, args ...string) string {
	t.Helper()
	stdout, stderr, code := runCLI(t, p, args...)
	if code != 0 {
		t.Fatalf("troupe %v: exit %d, stderr %s", args, code, stderr)
	}
	return stdout
}

type lsItem struct {
	Name       string `json:"name"`
	Component  string `json:"component"`
	State      string `json:"state"`
	GroupState string `json:"groupState"`
	Members    int    `json:"members"`
	Lag        int64  `json:"lag"`
	Partitions []struct {
		Topic     string `json:"topic"`
		Partition int32  `json:"partition"`
		Lag       int64  `json:"lag"`
	} `json:"partitions"`
}

func subscribersLs(t *testing.T, p *platform) map[string]lsItem {
	t.Helper()
	var items []lsItem
	out := cli(t, p, "subscribers", "ls", "--output", "json")
	if err := json.Unmarshal([]byte(out), &items); err != nil {
		t.Fatalf("subscribers ls --output json printed %q: %v", out, err)
	}
	m := map[string]lsItem{}
	for _, it := range items {
		m[it.Name] = it
	}
	return m
}

type deadLetter struct {
	ID       string `json:"id"`
	Stream   string `json:"stream"`
	Type     string `json:"type"`
	Error    string `json:"error"`
	Attempts int    `json:"attempts"`
	Parked   bool   `json:"parked"`
}

// TestAdminCommands drives the admin commands on the embedded servers
// and, when make test names them, on real Kafka and Redis.
func TestAdminCommands(t *testing.T) {
	t.Run("embedded", func(t *testing.T) {
		adminCommands(t, nil)
	})
	t.Run("real_kafka_redis", func(t *testing.T) {
		brokers, redisURL := testinfra.RealKafka(), testinfra.RealRedis()
		if len(brokers) == 0 || redisURL == "" {
			t.Skipf("%s and %s are not both set", testinfra.EnvKafkaBrokers, testinfra.EnvRedisURL)
		}
		adminCommands(t, []string{"--kafka-brokers", strings.Join(brokers, ","), "--redis-url", redisURL})
	})
}

func adminCommands(t *testing.T, upFlags []string) {
	suffix := strings.ToLower(rand.Text()[:8])
	hookName := "cli-" + suffix
	group := "webhook-" + hookName
	sku, customer, other := "ADMIN-"+strings.ToUpper(suffix), "cust-"+suffix, "other-"+suffix
	rcv := newReceiver(t, customer)
	rcv.failing.Store(true)
	hooks := filepath.Join(t.TempDir(), "webhooks.json")
	cfg := `[{"name":"` + hookName + `","url":"` + rcv.srv.URL + `","secret":"s3cret","types":["payments.payment_captured.v1"]}]`
	if err := os.WriteFile(hooks, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startPlatform(t, "", append([]string{"--webhooks", hooks}, upFlags...)...)

	// An order paid from the wallet; the webhook receiver fails for its
	// customer, so its payment_captured becomes a dead letter after the
	// retries.
	adminTok := cliToken(t, p, "--admin")
	custTok := cliToken(t, p, "--customer", customer)
	otherTok := cliToken(t, p, "--customer", other)
	if code, body := api(t, p, http.MethodPost, "/api/catalog/products", adminTok, `{"sku":"`+sku+`","name":"Admin","priceCents":1250}`); code != http.StatusCreated {
		t.Fatalf("list product: %d %s", code, body)
	}
	if code, body := api(t, p, http.MethodPost, "/api/catalog/products/"+sku+"/stock", adminTok, `{"quantity":10}`); code != http.StatusAccepted {
		t.Fatalf("stock: %d %s", code, body)
	}
	for who, tok := range map[string]string{customer: custTok, other: otherTok} {
		if code, body := api(t, p, http.MethodPost, "/api/customers/"+who+"/wallet/deposits", tok, `{"amountCents":10000}`); code != http.StatusAccepted {
			t.Fatalf("deposit: %d %s", code, body)
		}
	}
	placeOrder := func(tok string) string {
		var id string
		waitUntil(t, "the order to be accepted", func() bool {
			code, body := api(t, p, http.MethodPost, "/api/orders", tok, `{"lines":[{"sku":"`+sku+`","quantity":2}],"paymentMethod":"wallet"}`)
			if code == http.StatusUnprocessableEntity {
				return false // ordering has not learnt the SKU yet
			}
			var out struct{ OrderID string }
			if code != http.StatusAccepted || json.Unmarshal(body, &out) != nil || out.OrderID == "" {
				t.Fatalf("place order: %d %s", code, body)
			}
			id = out.OrderID
			return true
		})
		return id
	}
	orderID := placeOrder(custTok)
	waitUntil(t, "the order to be CONFIRMED", func() bool {
		code, body := api(t, p, http.MethodGet, "/api/orders/"+orderID, custTok, "")
		return code == http.StatusOK && strings.Contains(string(body), `"CONFIRMED"`)
	})

	t.Run("subscribers ls", func(t *testing.T) {
		var subs map[string]lsItem
		waitUntil(t, "every group but the webhook's at zero lag", func() bool {
			subs = subscribersLs(t, p)
			for _, n := range []string{"catalog", "ordering", "payments", "projections", "loyalty"} {
				if s, ok := subs[n]; !ok || s.Lag != 0 || s.State != "running" || s.Component != n || len(s.Partitions) == 0 {
					return false
				}
			}
			return true
		})
		if w := subs[group]; w.Component != "webhook" || w.State != "running" || w.Members != 1 {
			t.Fatalf("webhook subscriber %+v", w)
		}
		for n := range subs {
			if strings.HasSuffix(n, ".dlq-redrive") {
				t.Fatalf("ls lists the internal group %s", n)
			}
		}
		text := cli(t, p, "subscribers", "ls")
		if !strings.HasPrefix(text, "SUBSCRIBER") || !strings.Contains(text, "projections") || !strings.Contains(text, "payments.events") {
			t.Fatalf("subscribers ls printed %q", text)
		}
		wantExit(t, p, 2, []string{"--output"}, "subscribers", "ls", "--output", "yaml")
	})

	t.Run("subscribers reset", func(t *testing.T) {
		wantExit(t, p, 1, []string{"projections", "troupe replay projection"}, "subscribers", "reset", "projections", "--to", "earliest")
		wantExit(t, p, 2, []string{`"nobody"`, "loyalty"}, "subscribers", "reset", "nobody", "--to", "earliest")
		wantExit(t, p, 2, []string{"--to", "yesterday"}, "subscribers", "reset", "loyalty", "--to", "yesterday")
		wantExit(t, p, 2, []string{"--to"}, "subscribers", "reset", "loyalty")
		wantExit(t, p, 2, []string{"one subscriber"}, "subscribers", "reset", "--to", "earliest")

		var before struct{ Points int64 }
		waitUntil(t, "loyalty points", func() bool {
			_, body := api(t, p, http.MethodGet, "/api/customers/"+customer+"/loyalty", custTok, "")
			return json.Unmarshal(body, &before) == nil && before.Points == 25
		})
		out := cli(t, p, "subscribers", "reset", "loyalty", "--to", "earliest")
		if !strings.HasPrefix(out, "reset loyalty to earliest: ") || !strings.Contains(out, "payments.events") {
			t.Fatalf("reset printed %q", out)
		}
		waitUntil(t, "loyalty to re-consume history", func() bool { return subscribersLs(t, p)["loyalty"].Lag == 0 })
		var after struct{ Points int64 }
		_, body := api(t, p, http.MethodGet, "/api/customers/"+customer+"/loyalty", custTok, "")
		if err := json.Unmarshal(body, &after); err != nil || after.Points != 25 {
			t.Fatalf("points after the reset: %s, want 25 (applied once)", body)
		}

		// A bare cluster (no platform API): the group has members, so it refuses.
		bare := t.TempDir()
		_, stderr, code := runCLI(t, nil, "subscribers", "reset", "ordering", "--to", "earliest", "--data-dir", bare, "--kafka-brokers", p.EP.Kafka)
		if code != 1 || !strings.Contains(stderr, "active members") || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Fatalf("bare reset of a running group: exit %d, %q; want 1 naming its members", code, stderr)
		}
		wantExit(t, nil, 2, []string{`"nobody"`}, "subscribers", "reset", "nobody", "--to", "earliest", "--data-dir", bare, "--kafka-brokers", p.EP.Kafka)
		wantExit(t, nil, 1, []string{"loyalty", "Redis"}, "subscribers", "reset", "loyalty", "--to", "earliest", "--data-dir", bare, "--kafka-brokers", p.EP.Kafka)
	})

	t.Run("replay projection", func(t *testing.T) {
		query := func() (string, string) {
			_, order := api(t, p, http.MethodGet, "/api/orders/"+orderID, custTok, "")
			_, orders := api(t, p, http.MethodGet, "/api/customers/"+customer+"/orders", custTok, "")
			return string(order), string(orders)
		}
		order0, orders0 := query()
		stdout, stderr, code := runCLI(t, p, "replay", "projection", "projections")
		if code != 0 {
			t.Fatalf("replay projection: exit %d, %s", code, stderr)
		}
		if !strings.Contains(stdout, "rebuilt projections from ") {
			t.Fatalf("replay projection printed %q", stdout)
		}
		lines := 0
		for _, l := range strings.Split(stderr, "\n") {
			if strings.HasPrefix(l, "rebuild projections: ") && strings.Contains(l, " events (") && strings.Contains(l, "events/s, ETA ") {
				lines++
			}
		}
		if lines < 2 || !strings.Contains(stderr, "(100%)") {
			t.Fatalf("progress on a non-terminal: %q, want plain lines ending at 100%%", stderr)
		}
		order1, orders1 := query()
		if order0 != order1 || orders0 != orders1 {
			t.Fatalf("the read model answers differently after the rebuild:\n%s\n%s\nvs\n%s\n%s", order0, orders0, order1, orders1)
		}
		// The live projector feeds the new generation: a new order shows up.
		second := placeOrder(otherTok)
		waitUntil(t, "the new order in the rebuilt read model", func() bool {
			code, body := api(t, p, http.MethodGet, "/api/orders/"+second, otherTok, "")
			return code == http.StatusOK && strings.Contains(string(body), `"CONFIRMED"`)
		})
		wantExit(t, p, 2, []string{"projections"}, "replay", "projection")
		wantExit(t, p, 2, []string{`"nope"`, "projections"}, "replay", "projection", "nope")
	})

	t.Run("dlq", func(t *testing.T) {
		var dl []deadLetter
		deadline := time.Now().Add(3 * time.Minute) // 8 attempts with backoff up to 30 s
		for {
			out := cli(t, p, "dlq", "ls", group, "--output", "json")
			if err := json.Unmarshal([]byte(out), &dl); err != nil {
				t.Fatalf("dlq ls --output json printed %q: %v", out, err)
			}
			if len(dl) > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no dead letter after 3 minutes (%d failed POSTs)", rcv.failed.Load())
			}
			time.Sleep(time.Second)
		}
		d := dl[0]
		if len(dl) != 1 || d.Stream != "payments.payment-"+orderID || d.Type != "payments.payment_captured.v1" ||
			d.Parked || d.Attempts < 2 || !strings.Contains(d.Error, "500") {
			t.Fatalf("dead letters %+v", dl)
		}
		text := cli(t, p, "dlq", "ls", group)
		if !strings.HasPrefix(text, "ID") || !strings.Contains(text, d.ID) || !strings.Contains(text, "false") {
			t.Fatalf("dlq ls printed %q", text)
		}
		wantExit(t, p, 2, []string{`"nobody"`, group}, "dlq", "ls", "nobody")
		wantExit(t, p, 2, []string{"one subscriber"}, "dlq", "ls")
		wantExit(t, p, 2, []string{"nope"}, "dlq", "redrive", group, "--id", "nope")

		rcv.failing.Store(false)
		if out := cli(t, p, "dlq", "redrive", group, "--id", d.ID); out != "redrove 1 dead letters of "+group+"\n" {
			t.Fatalf("redrive printed %q", out)
		}
		if n := rcv.times(d.ID); n != 1 {
			t.Fatalf("the receiver acknowledged the redriven event %d times, want 1", n)
		}
		if out := cli(t, p, "dlq", "ls", group, "--output", "json"); strings.TrimSpace(out) != "[]" {
			t.Fatalf("dlq ls after the redrive: %q", out)
		}
		if out := cli(t, p, "dlq", "redrive", group); out != "redrove 0 dead letters of "+group+"\n" {
			t.Fatalf("redrive of nothing printed %q", out)
		}

		// A webhook reset re-sends what was delivered (issue 10).
		cli(t, p, "subscribers", "reset", group, "--to", "earliest")
		waitUntil(t, "the capture re-sent", func() bool { return rcv.times(d.ID) == 2 })
	})
}

// TestAdminCommandsWithoutAPlatform: with neither endpoints.json nor URLs
// the commands exit 1 saying how to start one; an API that does not
// answer fails with exit 1 naming its address and the flag.
func TestAdminCommandsWithoutAPlatform(t *testing.T) {
	t.Parallel()
	empty := t.TempDir()
	wantExit(t, nil, 1, []string{"no running platform", "troupe up", "--kafka-brokers"}, "subscribers", "ls", "--data-dir", empty)
	wantExit(t, nil, 1, []string{"no running platform", "troupe up", "--kafka-brokers"}, "subscribers", "reset", "x", "--to", "earliest", "--data-dir", empty)
	wantExit(t, nil, 1, []string{"no running platform", "troupe up", "--http-addr"}, "dlq", "ls", "x", "--data-dir", empty)
	wantExit(t, nil, 1, []string{"no running platform", "troupe up", "--kafka-brokers"}, "replay", "projection", "projections", "--data-dir", empty)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	secret := strings.Repeat("s", 32)
	wantExit(t, nil, 1, []string{addr, "--http-addr"}, "dlq", "redrive", "x", "--data-dir", empty, "--http-addr", addr, "--jwt-secret", secret)
	wantExit(t, nil, 1, []string{addr, "--http-addr"}, "subscribers", "reset", "x", "--to", "earliest", "--data-dir", empty, "--http-addr", addr, "--jwt-secret", secret)
	wantExit(t, nil, 1, []string{addr, "--kafka-brokers"}, "subscribers", "ls", "--data-dir", empty, "--kafka-brokers", addr)
}
