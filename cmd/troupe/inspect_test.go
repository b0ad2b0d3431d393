package main

import (
	"bufio"
	"crypto/rand"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/troupe-dev/troupe/shared/platform/httpapi"
	"github.com/troupe-dev/troupe/shared/platform/testinfra"
)

// The inspection commands (token, streams, replay stream) run as
// subprocesses against a `troupe up` subprocess, on data made through the
// HTTP API with tokens from `troupe token` itself.

// api calls the platform's HTTP API and returns the status and body.
func api(t *testing.T, p *platform, method, path, token, body string) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+p.EP.HTTP+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// cliToken is a token from `troupe token`.
func cliToken(t *testing.T, p *platform, args ...string) string {
	t.Helper()
	stdout, stderr, code := runCLI(t, p, append([]string{"token"}, args...)...)
	if code != 0 {
		t.Fatalf("troupe token %v: exit %d, %s", args, code, stderr)
	}
	tok := strings.TrimSpace(stdout)
	if strings.Count(tok, ".") != 2 || strings.ContainsAny(tok, " \n") || stdout != tok+"\n" {
		t.Fatalf("troupe token %v printed %q, want the token alone", args, stdout)
	}
	return tok
}

// waitUntil polls cond every 100 ms for up to a minute.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// replayOut is the JSON `replay stream` prints.
type replayOut struct {
	Stream       string `json:"stream"`
	Revision     uint64 `json:"revision"`
	LastRevision uint64 `json:"lastRevision"`
	Events       []struct {
		Revision uint64          `json:"revision"`
		Type     string          `json:"type"`
		Time     time.Time       `json:"time"`
		Data     json.RawMessage `json:"data"`
	} `json:"events"`
	State json.RawMessage `json:"state"`
}

func replay(t *testing.T, p *platform, args ...string) replayOut {
	t.Helper()
	stdout, stderr, code := runCLI(t, p, append([]string{"replay", "stream"}, args...)...)
	if code != 0 {
		t.Fatalf("replay stream %v: exit %d, %s", args, code, stderr)
	}
	var out replayOut
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("replay stream %v printed %q: %v", args, stdout, err)
	}
	return out
}

func stateField(t *testing.T, raw json.RawMessage, field string) any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("state %s: %v", raw, err)
	}
	return m[field]
}

// wantExit runs the CLI and wants exit code with a one-line reason on
// stderr containing each of want.
func wantExit(t *testing.T, p *platform, code int, want []string, args ...string) {
	t.Helper()
	_, stderr, got := runCLI(t, p, args...)
	if got != code {
		t.Errorf("troupe %v: exit %d, want %d (stderr %q)", args, got, code, stderr)
		return
	}
	if strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
		t.Errorf("troupe %v: stderr %q, want one line", args, stderr)
	}
	for _, w := range want {
		if !strings.Contains(stderr, w) {
			t.Errorf("troupe %v: stderr %q does not say %q", args, stderr, w)
		}
	}
}

// TestInspectAnOrderThroughItsHistory places an order through the API,
// then browses and replays its history with the CLI: on the embedded
// servers, and on the real Kafka and Redis when make test names them.
func TestInspectAnOrderThroughItsHistory(t *testing.T) {
	t.Run("embedded", func(t *testing.T) {
		inspectOrderHistory(t, startPlatform(t, ""))
	})
	t.Run("real_kafka_redis", func(t *testing.T) {
		brokers, redisURL := testinfra.RealKafka(), testinfra.RealRedis()
		if len(brokers) == 0 || redisURL == "" {
			t.Skipf("%s and %s are not both set", testinfra.EnvKafkaBrokers, testinfra.EnvRedisURL)
		}
		inspectOrderHistory(t, startPlatform(t, "", "--kafka-brokers", strings.Join(brokers, ","), "--redis-url", redisURL))
	})
}

func inspectOrderHistory(t *testing.T, p *platform) {
	suffix := rand.Text()[:10]
	sku, customer, other := "INSPECT-"+suffix, "alice-"+suffix, "bob-"+suffix

	admin := cliToken(t, p, "--admin")
	alice := cliToken(t, p, "--customer", customer, "--ttl", "10m")
	if code, body := api(t, p, http.MethodPost, "/api/catalog/products", admin, `{"sku":"`+sku+`","name":"Inspected","priceCents":250}`); code != http.StatusCreated {
		t.Fatalf("list product: %d %s", code, body)
	}
	if code, body := api(t, p, http.MethodPost, "/api/catalog/products/"+sku+"/stock", admin, `{"quantity":10}`); code != http.StatusAccepted {
		t.Fatalf("receive stock: %d %s", code, body)
	}
	if code, body := api(t, p, http.MethodPost, "/api/customers/"+customer+"/wallet/deposits", alice, `{"amountCents":1000}`); code != http.StatusAccepted {
		t.Fatalf("deposit: %d %s", code, body)
	}
	// A customer's token is refused for admin work: it is what it says.
	if code, _ := api(t, p, http.MethodPost, "/api/catalog/products", alice, `{"sku":"X-`+suffix+`","name":"No","priceCents":1}`); code != http.StatusForbidden {
		t.Fatalf("admin command with a customer token: %d, want 403", code)
	}
	// Ordering learns the SKU from catalog's events: 422 until then.
	var orderID string
	waitUntil(t, "the order to be accepted", func() bool {
		code, body := api(t, p, http.MethodPost, "/api/orders", alice, `{"lines":[{"sku":"`+sku+`","quantity":2}],"paymentMethod":"wallet"}`)
		if code == http.StatusUnprocessableEntity {
			return false
		}
		var out struct{ OrderID string }
		if code != http.StatusAccepted || json.Unmarshal(body, &out) != nil || out.OrderID == "" {
			t.Fatalf("place order: %d %s", code, body)
		}
		orderID = out.OrderID
		return true
	})
	waitUntil(t, "the order to be CONFIRMED", func() bool {
		code, body := api(t, p, http.MethodGet, "/api/orders/"+orderID, alice, "")
		var o struct{ Status string }
		_ = json.Unmarshal(body, &o)
		if o.Status == "CANCELLED" {
			t.Fatalf("order cancelled: %s", body)
		}
		return code == http.StatusOK && o.Status == "CONFIRMED"
	})
	orderStream := "ordering.order-" + orderID

	t.Run("replay stream", func(t *testing.T) {
		all := replay(t, p, orderStream, "--state")
		n := len(all.Events)
		if n < 2 || all.Events[0].Type != "ordering.order.placed" || all.Events[n-1].Type != "ordering.order.confirmed" {
			t.Fatalf("events %+v: want placed first, confirmed last", all.Events)
		}
		for i, ev := range all.Events {
			if ev.Revision != uint64(i) || ev.Time.IsZero() || len(ev.Data) == 0 {
				t.Fatalf("event %d = %+v: want revision %d, a time and data", i, ev, i)
			}
		}
		if all.Revision != uint64(n-1) || all.LastRevision != uint64(n-1) || all.Stream != orderStream {
			t.Fatalf("replay of the whole stream: stream %s revision %d last %d", all.Stream, all.Revision, all.LastRevision)
		}
		if s := stateField(t, all.State, "status"); s != "CONFIRMED" {
			t.Fatalf("state now: status %v, want CONFIRMED (%s)", s, all.State)
		}
		if s := stateField(t, all.State, "totalCents"); s != 500.0 {
			t.Fatalf("state now: totalCents %v, want 500", s)
		}

		first := replay(t, p, orderStream, "--to-revision", "0", "--state")
		if len(first.Events) != 1 || first.Revision != 0 || first.LastRevision != uint64(n-1) {
			t.Fatalf("to revision 0: %d events, revision %d, last %d", len(first.Events), first.Revision, first.LastRevision)
		}
		if s := stateField(t, first.State, "status"); s != "PENDING" {
			t.Fatalf("state at revision 0: status %v, want PENDING (%s)", s, first.State)
		}
		if state := replay(t, p, orderStream, "--to-revision", "0"); state.State != nil {
			t.Fatalf("without --state the state was printed: %s", state.State)
		}

		placedAt := all.Events[0].Time.Format(time.RFC3339Nano)
		atPlaced := replay(t, p, orderStream, "--at", placedAt, "--state")
		if len(atPlaced.Events) != 1 || stateField(t, atPlaced.State, "status") != "PENDING" {
			t.Fatalf("at %s (the placement): %d events, state %s", placedAt, len(atPlaced.Events), atPlaced.State)
		}
		confirmedAt := all.Events[n-1].Time
		before := replay(t, p, orderStream, "--at", confirmedAt.Add(-time.Nanosecond).Format(time.RFC3339Nano), "--state")
		if before.Revision != uint64(n-2) || len(before.Events) != n-1 || stateField(t, before.State, "status") == "CONFIRMED" {
			t.Fatalf("just before the confirmation: revision %d, %d events, state %s", before.Revision, len(before.Events), before.State)
		}

		wallet := replay(t, p, "payments.wallet-"+customer, "--state")
		if b := stateField(t, wallet.State, "balanceCents"); b != 500.0 {
			t.Fatalf("wallet state: balanceCents %v, want 500 (%s)", b, wallet.State)
		}
		product := replay(t, p, "catalog.product-"+sku, "--state")
		if c := stateField(t, product.State, "committed"); c != 2.0 {
			t.Fatalf("product state: committed %v, want 2 (%s)", c, product.State)
		}
		payment := replay(t, p, "payments.payment-"+orderID, "--state")
		if s := stateField(t, payment.State, "status"); s != "captured" {
			t.Fatalf("payment state: status %v, want captured (%s)", s, payment.State)
		}
		reservation := replay(t, p, "catalog.reservation-"+orderID, "--state")
		if s := stateField(t, reservation.State, "status"); s != "committed" {
			t.Fatalf("reservation state: status %v, want committed (%s)", s, reservation.State)
		}
	})

	t.Run("replay stream refusals", func(t *testing.T) {
		wantExit(t, p, 2, []string{"--to-revision", "--at"}, "replay", "stream", orderStream, "--to-revision", "0", "--at", "2026-01-01T00:00:00Z")
		wantExit(t, p, 2, []string{"--at", "yesterday"}, "replay", "stream", orderStream, "--at", "yesterday")
		wantExit(t, p, 2, []string{"ordering.order-nope"}, "replay", "stream", "ordering.order-nope")
		all := replay(t, p, orderStream)
		last := strconv.FormatUint(all.LastRevision, 10)
		wantExit(t, p, 2, []string{"last revision is " + last}, "replay", "stream", orderStream, "--to-revision", "99")
		wantExit(t, p, 2, []string{"no event at or before"}, "replay", "stream", orderStream, "--at", "2000-01-01T00:00:00Z")
		wantExit(t, p, 2, []string{"troupe.checkpoint-relay-ordering", "no aggregate"}, "replay", "stream", "troupe.checkpoint-relay-ordering", "--state")
		wantExit(t, p, 2, []string{"needs a stream name"}, "replay", "stream")
	})

	t.Run("streams ls", func(t *testing.T) {
		stdout, stderr, code := runCLI(t, p, "streams", "ls")
		if code != 0 {
			t.Fatalf("streams ls: exit %d, %s", code, stderr)
		}
		for _, s := range []string{orderStream, "catalog.product-" + sku, "payments.wallet-" + customer, "ordering.order.confirmed"} {
			if !strings.Contains(stdout, s) {
				t.Errorf("streams ls does not show %s:\n%s", s, stdout)
			}
		}
		stdout, stderr, code = runCLI(t, p, "streams", "ls", "--output", "json")
		if code != 0 {
			t.Fatalf("streams ls --output json: exit %d, %s", code, stderr)
		}
		var list []streamInfo
		if err := json.Unmarshal([]byte(stdout), &list); err != nil {
			t.Fatalf("streams ls --output json printed %q: %v", stdout, err)
		}
		found := false
		for _, s := range list {
			if strings.HasPrefix(s.Stream, "$") {
				t.Errorf("streams ls lists the system stream %s", s.Stream)
			}
			if s.Stream == orderStream {
				found = true
				if s.LastEventType != "ordering.order.confirmed" || s.LastEventAt.IsZero() {
					t.Errorf("order stream listed as %+v", s)
				}
			}
		}
		if !found {
			t.Fatalf("streams ls --output json misses %s: %s", orderStream, stdout)
		}
		stdout, _, code = runCLI(t, p, "streams", "ls", "--prefix", "payments.wallet-")
		if code != 0 || !strings.Contains(stdout, "payments.wallet-"+customer) || strings.Contains(stdout, orderStream) {
			t.Fatalf("streams ls --prefix payments.wallet-: exit %d\n%s", code, stdout)
		}
		wantExit(t, p, 2, []string{"--output"}, "streams", "ls", "--output", "xml")
	})

	t.Run("streams read", func(t *testing.T) {
		all := replay(t, p, orderStream)
		stdout, stderr, code := runCLI(t, p, "streams", "read", orderStream)
		if code != 0 {
			t.Fatalf("streams read: exit %d, %s", code, stderr)
		}
		lines := strings.Split(strings.TrimSpace(stdout), "\n")
		if len(lines) != len(all.Events) || !strings.HasPrefix(lines[0], "0\t") || !strings.Contains(lines[0], "ordering.order.placed") ||
			!strings.Contains(lines[len(lines)-1], "ordering.order.confirmed") || !strings.Contains(lines[0], `"CustomerID":"`+customer+`"`) {
			t.Fatalf("streams read printed:\n%s", stdout)
		}
		stdout, stderr, code = runCLI(t, p, "streams", "read", orderStream, "--output", "json")
		var events []eventView
		if code != 0 || json.Unmarshal([]byte(stdout), &events) != nil || len(events) != len(all.Events) || events[0].Type != "ordering.order.placed" {
			t.Fatalf("streams read --output json: exit %d %s\n%s", code, stderr, stdout)
		}
		wantExit(t, p, 2, []string{"nope-" + suffix, "does not exist"}, "streams", "read", "nope-"+suffix)
	})

	t.Run("streams tail", func(t *testing.T) {
		cmd := exec.Command(troupeBinary(t), "streams", "tail", "--data-dir", p.DataDir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		stderr := &syncBuffer{}
		cmd.Stderr = stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1024)
		go func() {
			sc := bufio.NewScanner(stdout)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		done := make(chan error, 1)
		t.Cleanup(func() {
			if cmd.ProcessState == nil {
				_ = cmd.Process.Kill()
			}
		})
		waitUntil(t, "tail to follow $all", func() bool { return strings.Contains(stderr.String(), "following $all from now") })

		bobToken := cliToken(t, p, "--customer", other)
		if code, body := api(t, p, http.MethodPost, "/api/customers/"+other+"/wallet/deposits", bobToken, `{"amountCents":700}`); code != http.StatusAccepted {
			t.Fatalf("deposit: %d %s", code, body)
		}
		want := "payments.wallet-" + other + "@0\tpayments.wallet.funds_deposited"
		timeout := time.After(time.Minute)
	wait:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("tail ended before the deposit showed; stderr %s", stderr.String())
				}
				if strings.Contains(l, orderStream) {
					t.Fatalf("tail printed the order's history, not only new events: %s", l)
				}
				if strings.Contains(l, want) {
					break wait
				}
			case <-timeout:
				t.Fatalf("tail did not print the deposit; stderr %s", stderr.String())
			}
		}
		if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		go func() {
			for range lines {
			}
			done <- cmd.Wait()
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("tail after SIGINT: %v, want exit 0; stderr %s", err, stderr.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("tail did not stop after SIGINT; stderr %s", stderr.String())
		}
	})

	t.Run("token refusals", func(t *testing.T) {
		wantExit(t, p, 2, []string{"--customer", "--admin"}, "token")
		wantExit(t, p, 2, []string{"not both"}, "token", "--admin", "--customer", "c1")
		wantExit(t, p, 2, []string{`"bad id!"`}, "token", "--customer", "bad id!")
		wantExit(t, p, 2, []string{`""`}, "token", "--customer", "")
		wantExit(t, p, 2, []string{strings.Repeat("x", 65)}, "token", "--customer", strings.Repeat("x", 65))
	})
}

// TestInspectWithoutAPlatform: with neither endpoints.json nor URLs the
// commands exit 1 saying how to start one; an event store that does not
// answer fails with exit 1 naming its address and the flag.
func TestInspectWithoutAPlatform(t *testing.T) {
	t.Parallel()
	empty := t.TempDir()
	for _, args := range [][]string{
		{"streams", "ls"},
		{"streams", "read", "ordering.order-x"},
		{"streams", "tail"},
		{"replay", "stream", "ordering.order-x", "--state"},
	} {
		wantExit(t, nil, 1, []string{"no running platform", "troupe up", "--eventstore-url"}, append(args, "--data-dir", empty)...)
	}
	wantExit(t, nil, 1, []string{"troupe up", "--jwt-secret"}, "token", "--admin", "--data-dir", empty)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	for _, args := range [][]string{
		{"streams", "ls"},
		{"streams", "tail"},
		{"replay", "stream", "ordering.order-x"},
	} {
		wantExit(t, nil, 1, []string{addr, "--eventstore-url"}, append(args, "--data-dir", empty, "--eventstore-url", "esdb://"+addr+"?tls=false")...)
	}

	// A secret given by flag needs no platform at all; the token verifies
	// with it, for the subject and role asked, until its --ttl.
	secret := strings.Repeat("s", 32)
	stdout, stderr, code := runCLI(t, nil, "token", "--customer", "c-1", "--ttl", "1h", "--jwt-secret", secret, "--data-dir", empty)
	if code != 0 {
		t.Fatalf("token with --jwt-secret: exit %d %s", code, stderr)
	}
	auth, err := httpapi.NewAuth([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	pr, err := auth.Verify(strings.TrimSpace(stdout))
	if err != nil || pr.Subject != "c-1" || pr.Role != httpapi.RoleCustomer {
		t.Fatalf("token %q verifies as %+v, %v; want customer c-1", stdout, pr, err)
	}
	other, err := httpapi.NewAuth([]byte(strings.Repeat("t", 32)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Verify(strings.TrimSpace(stdout)); err == nil {
		t.Fatal("the token verifies with another secret")
	}
}
