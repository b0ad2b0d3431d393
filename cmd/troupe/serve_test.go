package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	esserver "github.com/troupe-dev/troupe/embedded/eventstore"
	"github.com/troupe-dev/troupe/embedded/psp"
	"github.com/troupe-dev/troupe/shared/platform/httpapi"
	"github.com/troupe-dev/troupe/shared/platform/testinfra"
)

// The `troupe serve` tests run each component as a subprocess, the way a
// deployment does, against servers the test starts: real Kafka and Redis
// when TROUPE_TEST_KAFKA_BROKERS / TROUPE_TEST_REDIS_URL are set, else the
// embedded ones, and always the embedded event store and card gateway.
// serve itself never starts a server.

const serveSecret = "serve-test-secret-0123456789abcdef0123456789"

// serveInfra is the servers the components of one test run against.
type serveInfra struct {
	eventstore string
	brokers    string
	redis      string
	psp        string
	auth       *httpapi.Auth
}

func startServeInfra(t *testing.T, redisDB int) serveInfra {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	es, err := esserver.Start(context.Background(), esserver.Config{DataDir: t.TempDir(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = es.Close() })
	gw, err := psp.Start(context.Background(), psp.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gw.Close() })
	redisURL := testinfra.RealRedis()
	if redisURL != "" {
		// One database per test: the read models' keys do not collide,
		// and a test starts from an empty Redis.
		redisURL = regexp.MustCompile(`/\d*$`).ReplaceAllString(strings.TrimRight(redisURL, "/"), "") + fmt.Sprintf("/%d", redisDB)
		flushRedis(t, redisURL)
	} else {
		redisURL = testinfra.EmbeddedRedis(t)
	}
	auth, err := httpapi.NewAuth([]byte(serveSecret))
	if err != nil {
		t.Fatal(err)
	}
	return serveInfra{eventstore: es.URL(), brokers: strings.Join(testinfra.KafkaBrokers(t), ","), redis: redisURL,
		psp: gw.URL(), auth: auth}
}

// env is the environment of a serve subprocess: this process's without any
// TROUPE_ setting, plus the infra's.
func (in serveInfra) env(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TROUPE_") {
			env = append(env, kv)
		}
	}
	if in.eventstore != "" {
		env = append(env, "TROUPE_EVENTSTORE_URL="+in.eventstore, "TROUPE_KAFKA_BROKERS="+in.brokers,
			"TROUPE_REDIS_URL="+in.redis, "TROUPE_PSP_URL="+in.psp, "TROUPE_JWT_SECRET="+serveSecret)
	}
	return append(env, extra...)
}

func (in serveInfra) token(t *testing.T, sub, role string) string {
	t.Helper()
	tok, err := in.auth.Issue(sub, role, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// serveProc is one `troupe serve` subprocess.
type serveProc struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan error
	base string // http://host:port
}

var servingRe = regexp.MustCompile(`http=http://([0-9.:]+)`)

// startServe runs `troupe serve <component>` on a free port and waits until
// it answers /readyz with 200; the test's end stops it.
func startServe(t *testing.T, in serveInfra, component string, extraEnv ...string) *serveProc {
	t.Helper()
	p := spawnServe(t, in, component, extraEnv...)
	p.waitReady(t)
	return p
}

// spawnServe starts `troupe serve <component>` on a free port without
// waiting for it.
func spawnServe(t *testing.T, in serveInfra, component string, extraEnv ...string) *serveProc {
	t.Helper()
	cmd := exec.Command(troupeBinary(t), "serve", component, "--http-addr", "127.0.0.1:0")
	cmd.Env = in.env(extraEnv...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serveProc{name: component, cmd: cmd, out: out, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// waitReady waits until the process listens and answers /readyz with 200.
func (p *serveProc) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for p.base == "" {
		if m := servingRe.FindStringSubmatch(p.out.String()); m != nil {
			p.base = "http://" + m[1]
			break
		}
		p.checkAlive(t, deadline)
	}
	for {
		resp, err := http.Get(p.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		p.checkAlive(t, deadline)
	}
}

func (p *serveProc) checkAlive(t *testing.T, deadline time.Time) {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		t.Fatalf("troupe serve %s exited (%v):\n%s", p.name, err, p.out.String())
	default:
	}
	if time.Now().After(deadline) {
		t.Fatalf("troupe serve %s not ready:\n%s", p.name, p.out.String())
	}
	time.Sleep(50 * time.Millisecond)
}

// term sends SIGTERM and fails the test unless the process exits 0 within
// the 10 s the design allows (plus slack for the race detector).
func (p *serveProc) term(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Errorf("troupe serve %s after SIGTERM: %v\n%s", p.name, err, p.out.String())
		}
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		t.Errorf("troupe serve %s did not stop within 15 s of SIGTERM:\n%s", p.name, p.out.String())
	}
}

// kill9 kills the process without letting it clean up.
func (p *serveProc) kill9(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	p.done <- errors.New("killed")
}

// do sends a request with a bearer token (when tok is not empty) and
// returns the status and body.
func do(t *testing.T, method, url, tok, body string) (int, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func eventuallyT(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestServeEachComponent starts every component as its own process,
// waits for /readyz, calls one of its routes, and stops it with SIGTERM
// (exit 0 within 10 s).
func TestServeEachComponent(t *testing.T) {
	in := startServeInfra(t, 11)
	admin := in.token(t, "admin", httpapi.RoleAdmin)
	cust := in.token(t, "cust-serve-1", httpapi.RoleCustomer)
	hookEnv := `TROUPE_WEBHOOKS=[{"name":"servetest","url":"http://127.0.0.1:9/hook","secret":"s","types":["catalog.product_listed.v1"]}]`
	sku := "SERVE-" + randomSKU()
	cases := []struct {
		component  string
		env        []string
		call       func(t *testing.T, base string)
		subscriber string
	}{
		{"catalog", nil, func(t *testing.T, base string) {
			code, body := do(t, http.MethodPost, base+"/api/catalog/products", admin, `{"sku":"`+sku+`","name":"Serve test","priceCents":100}`)
			if code != http.StatusCreated {
				t.Errorf("POST product: %d %s", code, body)
			}
			if code, _ := do(t, http.MethodPost, base+"/api/catalog/products", "", `{"sku":"X-1","name":"x","priceCents":1}`); code != http.StatusUnauthorized {
				t.Errorf("POST product without a token: %d, want 401", code)
			}
		}, "catalog"},
		{"ordering", nil, func(t *testing.T, base string) {
			code, body := do(t, http.MethodPost, base+"/api/orders", cust, `{"lines":[{"sku":"NO-SUCH-SKU","quantity":1}],"paymentMethod":"wallet"}`)
			if code != http.StatusUnprocessableEntity || !strings.Contains(body, "sku") {
				t.Errorf("POST order of an unknown SKU: %d %s, want 422 naming the sku", code, body)
			}
		}, "ordering"},
		{"payments", nil, func(t *testing.T, base string) {
			code, body := do(t, http.MethodPost, base+"/api/customers/cust-serve-1/wallet/deposits", cust, `{"amountCents":500}`)
			if code != http.StatusAccepted {
				t.Errorf("POST deposit: %d %s", code, body)
			}
		}, "payments"},
		{"projections", nil, func(t *testing.T, base string) {
			code, body := do(t, http.MethodGet, base+"/api/products?limit=5", "", "")
			if code != http.StatusOK || !strings.Contains(body, `"items"`) {
				t.Errorf("GET products: %d %s", code, body)
			}
		}, "projections"},
		{"loyalty", nil, func(t *testing.T, base string) {
			code, body := do(t, http.MethodGet, base+"/api/customers/cust-serve-1/loyalty", cust, "")
			if code != http.StatusOK {
				t.Errorf("GET loyalty: %d %s", code, body)
			}
		}, "loyalty"},
		{"webhook", []string{hookEnv}, func(t *testing.T, base string) {
			code, body := do(t, http.MethodGet, base+"/healthz", "", "")
			if code != http.StatusOK {
				t.Errorf("GET healthz: %d %s", code, body)
			}
		}, "webhook-servetest"},
	}
	for _, c := range cases {
		t.Run(c.component, func(t *testing.T) {
			p := startServe(t, in, c.component, c.env...)
			c.call(t, p.base)
			// The admin API lists this process's subscribers, to admins only.
			code, body := do(t, http.MethodGet, p.base+"/api/admin/subscribers", admin, "")
			var list struct {
				Items []struct {
					Name, Component, State string
				} `json:"items"`
			}
			if code != http.StatusOK || json.Unmarshal([]byte(body), &list) != nil || len(list.Items) != 1 ||
				list.Items[0].Name != c.subscriber || list.Items[0].Component != c.component {
				t.Errorf("GET /api/admin/subscribers: %d %s, want the one subscriber %s", code, body, c.subscriber)
			}
			if code, _ := do(t, http.MethodGet, p.base+"/api/admin/subscribers", cust, ""); code != http.StatusForbidden {
				t.Errorf("admin API with a customer token: %d, want 403", code)
			}
			p.term(t)
			if !strings.Contains(p.out.String(), "stopped") {
				t.Errorf("no stop line in the log:\n%s", p.out.String())
			}
		})
	}
}

// TestServeBadUsage: missing settings exit 2 naming the flag and its
// variable; an unreachable server or a busy port exits 1 within 5 s (plus
// start-up) naming the address and the flag.
func TestServeBadUsage(t *testing.T) {
	t.Parallel()
	var none serveInfra
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busy.Close() })
	// A port nothing listens on: listen, note the port, close.
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := free.Addr().String()
	free.Close()
	secret := "TROUPE_JWT_SECRET=" + serveSecret
	cases := []struct {
		name     string
		args     []string
		env      []string
		code     int
		contains []string
	}{
		{"no component", []string{"serve"}, nil, 2, []string{"name a component"}},
		{"unknown component", []string{"serve", "bogus"}, nil, 2, []string{`"bogus"`}},
		{"catalog without event store", []string{"serve", "catalog"}, nil, 2, []string{"--eventstore-url", "TROUPE_EVENTSTORE_URL"}},
		{"catalog without brokers", []string{"serve", "catalog", "--eventstore-url", "esdb://" + dead + "?tls=false"}, nil, 2, []string{"--kafka-brokers", "TROUPE_KAFKA_BROKERS"}},
		{"catalog without secret", []string{"serve", "catalog"}, []string{"TROUPE_EVENTSTORE_URL=esdb://" + dead + "?tls=false", "TROUPE_KAFKA_BROKERS=" + dead}, 2, []string{"--jwt-secret", "TROUPE_JWT_SECRET"}},
		{"projections without redis", []string{"serve", "projections", "--kafka-brokers", dead}, []string{secret}, 2, []string{"--redis-url", "TROUPE_REDIS_URL"}},
		{"payments without psp", []string{"serve", "payments", "--kafka-brokers", dead, "--eventstore-url", "esdb://" + dead}, []string{secret}, 2, []string{"--psp-url", "TROUPE_PSP_URL"}},
		{"webhook without webhooks", []string{"serve", "webhook", "--kafka-brokers", dead}, []string{secret}, 2, []string{"--webhooks", "TROUPE_WEBHOOKS"}},
		{"short secret", []string{"serve", "projections", "--kafka-brokers", dead, "--redis-url", "redis://" + dead, "--jwt-secret", "short"}, nil, 2, []string{"--jwt-secret"}},
		{"bad order timeout", []string{"serve", "ordering", "--order-timeout", "soon", "--kafka-brokers", dead, "--eventstore-url", "esdb://" + dead}, []string{secret}, 2, []string{"--order-timeout"}},
		{"flag of another component", []string{"serve", "projections", "--psp-url", "http://x"}, nil, 2, []string{"--psp-url"}},
		{"unreachable kafka", []string{"serve", "catalog", "--http-addr", "127.0.0.1:0", "--kafka-brokers", dead, "--eventstore-url", "esdb://" + dead + "?tls=false"}, []string{secret}, 1, []string{dead, "--kafka-brokers"}},
		{"busy port", []string{"serve", "projections", "--http-addr", busy.Addr().String(), "--kafka-brokers", dead, "--redis-url", "redis://" + dead}, []string{secret}, 1, []string{busy.Addr().String(), "--http-addr"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(troupeBinary(t), c.args...)
			cmd.Env = none.env(c.env...)
			var stderr syncBuffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			code := 0
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			msg := stderr.String()
			if code != c.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, c.code, msg)
			}
			if strings.Count(strings.TrimSpace(msg), "\n") != 0 {
				t.Errorf("stderr is not one line: %q", msg)
			}
			for _, s := range c.contains {
				if !strings.Contains(msg, s) {
					t.Errorf("stderr %q does not name %q", msg, s)
				}
			}
		})
	}
}

func randomSKU() string {
	return strings.ToUpper(strings.ReplaceAll(uuid.NewString()[:13], "-", ""))
}

// flushRedis empties the database of url.
func flushRedis(t *testing.T, url string) {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	if err := c.FlushDB(t.Context()).Err(); err != nil {
		t.Fatalf("flush %s: %v", url, err)
	}
}
