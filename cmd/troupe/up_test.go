package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/troupe-dev/troupe/cmd/troupe/stack"
	"github.com/troupe-dev/troupe/shared/platform/httpapi"
	wh "github.com/troupe-dev/troupe/subscribers/webhook"
)

// TestUpServesAndStops: `troupe up` starts the embedded servers, publishes
// them in endpoints.json, serves the API (commands, loyalty), forwards to a
// configured webhook, refuses a second platform on the same data dir, and
// stops cleanly (exit 0, endpoints.json removed) when its context ends.
func TestUpServesAndStops(t *testing.T) {
	dir := t.TempDir()
	hooked := make(chan []byte, 16)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := wh.Verify("up-test-secret", r.Header.Get(wh.SignatureHeader), body, time.Now(), time.Minute); err != nil {
			t.Errorf("webhook signature: %v", err)
		}
		hooked <- body
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()
	t.Setenv("TROUPE_WEBHOOKS", `[{"name":"uptest","url":"`+receiver.URL+`","secret":"up-test-secret","types":["catalog.product_listed.v1"]}]`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"up", "--data-dir", dir, "--http-addr", "127.0.0.1:0"}) }()

	epPath := filepath.Join(dir, "endpoints.json")
	var ep endpoints
	deadline := time.Now().Add(20 * time.Second)
	for {
		if b, err := os.ReadFile(epPath); err == nil && json.Unmarshal(b, &ep) == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("endpoints.json did not appear")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if ep.PID != os.Getpid() || ep.Kafka == "" || ep.Redis == "" || !strings.HasPrefix(ep.EventStore, "esdb://127.0.0.1:") {
		t.Fatalf("endpoints = %+v", ep)
	}
	conn, err := net.DialTimeout("tcp", ep.Kafka, 2*time.Second)
	if err != nil {
		t.Fatalf("kafka at %s: %v", ep.Kafka, err)
	}
	conn.Close()

	// The API answers through the running platform: ready, then an admin
	// command signed with the secret generated into the data dir.
	waitReady(t, "http://"+ep.HTTP)
	checkLagExposed(t, "http://"+ep.HTTP)
	secret, err := os.ReadFile(filepath.Join(dir, stack.SecretFile))
	if err != nil {
		t.Fatal(err)
	}
	auth, err := httpapi.NewAuth([]byte(strings.TrimSpace(string(secret))))
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := auth.Issue("admin", httpapi.RoleAdmin, time.Minute)
	req, _ := http.NewRequest(http.MethodPost, "http://"+ep.HTTP+"/api/catalog/products",
		strings.NewReader(`{"sku":"UP-TEST-1","name":"Up test","priceCents":250}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || !strings.Contains(resp.Header.Get(httpapi.HeaderConsistency), "catalog.product-UP-TEST-1@") {
		t.Fatalf("list product: %d %q %s", resp.StatusCode, resp.Header.Get(httpapi.HeaderConsistency), body)
	}
	select {
	case b := <-hooked:
		if !strings.Contains(string(b), `"UP-TEST-1"`) || !strings.Contains(string(b), `"catalog.product_listed.v1"`) {
			t.Fatalf("webhook body %s", b)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the configured webhook received nothing")
	}
	ctok, _ := auth.Issue("c-up", httpapi.RoleCustomer, time.Minute)
	req, _ = http.NewRequest(http.MethodGet, "http://"+ep.HTTP+"/api/customers/c-up/loyalty", nil)
	req.Header.Set("Authorization", "Bearer "+ctok)
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"points"`) {
		t.Fatalf("loyalty: %d %s", resp.StatusCode, body)
	}
	resp, err = http.Post("http://"+ep.HTTP+"/api/orders", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("order without a token: %d, want 401", resp.StatusCode)
	}

	if code := run(context.Background(), []string{"up", "--data-dir", dir}); code != 1 {
		t.Fatalf("second up on the same data dir exited %d, want 1", code)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("up exited %d after cancel, want 0", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("up did not stop within 10 s")
	}
	if _, err := os.Stat(epPath); !os.IsNotExist(err) {
		t.Fatalf("endpoints.json left behind: %v", err)
	}
}

// TestBadUsageExits2: unknown commands, flags and arguments exit 2.
func TestBadUsageExits2(t *testing.T) {
	for _, args := range [][]string{{"bogus"}, {"up", "--nope"}, {"up", "extra"}} {
		if code := run(context.Background(), args); code != 2 {
			t.Errorf("troupe %v exited %d, want 2", args, code)
		}
	}
}

func waitReady(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("not ready: %d %s", resp.StatusCode, body)
			}
		} else if time.Now().After(deadline) {
			t.Fatalf("readyz: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestUpBusyPortFailsFast: a taken API port fails within 5 s, naming the
// address and the flag to change.
func TestUpBusyPortFailsFast(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	start := time.Now()
	err = up(context.Background(), io.Discard, upConfig{dataDir: t.TempDir(), httpAddr: addr,
		eventstoreAddr: "127.0.0.1:0", kafkaAddr: "127.0.0.1:0", redisAddr: "127.0.0.1:0", currency: "EUR", orderTimeout: "60s"})
	if err == nil || !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "--http-addr") {
		t.Fatalf("up on a busy port: %v; want an error naming %s and --http-addr", err, addr)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("busy port took %v to fail, want under 5 s", took)
	}
}
