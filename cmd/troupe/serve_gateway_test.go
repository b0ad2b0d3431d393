package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/troupe-dev/troupe/shared/platform/httpapi"
)

// `troupe serve gateway` is run in-process here through its cobra command
// (the serve command that adds it as a subcommand is built on another
// branch), against httptest servers standing in for the components.

const gatewayTestSecret = "serve-gateway-test-secret-32-bytes-at-least"

// gwComponents starts one stand-in per component; each answers
// /readyz and names itself on any other path.
func gwComponents(t *testing.T) map[string]string {
	t.Helper()
	urls := map[string]string{}
	for _, name := range []string{"catalog", "ordering", "payments", "projections", "loyalty"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"component":"` + name + `"}`))
		}))
		t.Cleanup(srv.Close)
		urls[name] = srv.URL
	}
	return urls
}

// gwClearEnv makes sure the environment of the test run does not
// configure the command behind the test's back.
func gwClearEnv(t *testing.T) {
	for _, f := range []string{"http-addr", "jwt-secret", "catalog-url", "ordering-url", "payments-url", "projections-url",
		"loyalty-url", "webhook-url", "rate-limit", "rate-burst", "upstream-timeout"} {
		t.Setenv(envName(f), "")
	}
}

func gwFreeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// gwRun runs `serve gateway` with args until ctx ends and returns
// its error on done.
func gwRun(ctx context.Context, args ...string) (done chan error, stderr *syncBuffer) {
	cmd := newServeGatewayCmd()
	cmd.SetArgs(args)
	stderr = &syncBuffer{}
	cmd.SetErr(stderr)
	cmd.SetOut(stderr)
	done = make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	return done, stderr
}

func gwWaitReady(t *testing.T, base string, done chan error, stderr *syncBuffer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-done:
			t.Fatalf("gateway exited: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway not ready:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServeGatewayFromEnv: configured by TROUPE_* variables alone, the
// gateway gets ready, routes, refuses what it must, and stops cleanly
// when its context ends (what SIGTERM does in main).
func TestServeGatewayFromEnv(t *testing.T) {
	gwClearEnv(t)
	urls := gwComponents(t)
	addr := gwFreeAddr(t)
	t.Setenv("TROUPE_HTTP_ADDR", addr)
	t.Setenv("TROUPE_JWT_SECRET", gatewayTestSecret)
	for name, u := range urls {
		t.Setenv(envName(name+"-url"), u)
	}
	t.Setenv("TROUPE_RATE_LIMIT", "0.01")
	t.Setenv("TROUPE_RATE_BURST", "3")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done, stderr := gwRun(ctx)
	base := "http://" + addr
	gwWaitReady(t, base, done, stderr)

	get := func(path, token string) (int, string) {
		req, _ := http.NewRequest("GET", base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	if code, body := get("/api/products", ""); code != 200 || !strings.Contains(body, `"projections"`) {
		t.Fatalf("products: %d %s", code, body)
	}
	if code, _ := get("/api/stats/sales", ""); code != 401 {
		t.Fatalf("sales without a token: %d", code)
	}
	auth, err := httpapi.NewAuth([]byte(gatewayTestSecret))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := auth.Issue("c-1", httpapi.RoleCustomer, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// The burst of 3 from the environment: three pass, the fourth is limited.
	var codes []int
	for range 4 {
		code, _ := get("/api/customers/c-1/loyalty", tok)
		codes = append(codes, code)
	}
	if codes[0] != 200 || codes[1] != 200 || codes[2] != 200 || codes[3] != 429 {
		t.Fatalf("statuses %v, want three 200 then 429", codes)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("stop: %v\n%s", err, stderr.String())
		}
	case <-time.After(gatewayShutdownTimeout + 5*time.Second):
		t.Fatal("gateway did not stop within 10 s of its context ending")
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Fatal("gateway still answering after it stopped")
	}
}

// TestServeGatewayUsage: a missing required setting or a bad value is bad
// usage (exit 2) naming the flag and, for required ones, the variable; a
// busy port is a failure (exit 1) naming the address and the flag.
func TestServeGatewayUsage(t *testing.T) {
	gwClearEnv(t)
	urls := gwComponents(t)
	full := map[string]string{
		"--http-addr": "127.0.0.1:0", "--jwt-secret": gatewayTestSecret, "--catalog-url": urls["catalog"],
		"--ordering-url": urls["ordering"], "--payments-url": urls["payments"],
		"--projections-url": urls["projections"], "--loyalty-url": urls["loyalty"],
	}
	argsWith := func(override map[string]string) []string {
		var args []string
		for k, v := range full {
			if o, ok := override[k]; ok {
				v = o
			}
			if v != "" {
				args = append(args, k, v)
			}
		}
		for k, v := range override {
			if _, ok := full[k]; !ok {
				args = append(args, k, v)
			}
		}
		return args
	}
	cases := []struct {
		name     string
		override map[string]string
		want     []string
	}{
		{"no secret", map[string]string{"--jwt-secret": ""}, []string{"--jwt-secret", "TROUPE_JWT_SECRET"}},
		{"short secret", map[string]string{"--jwt-secret": "short"}, []string{"--jwt-secret", "32 bytes"}},
		{"no catalog", map[string]string{"--catalog-url": ""}, []string{"--catalog-url", "TROUPE_CATALOG_URL"}},
		{"no ordering", map[string]string{"--ordering-url": ""}, []string{"--ordering-url", "TROUPE_ORDERING_URL"}},
		{"no payments", map[string]string{"--payments-url": ""}, []string{"--payments-url", "TROUPE_PAYMENTS_URL"}},
		{"no projections", map[string]string{"--projections-url": ""}, []string{"--projections-url", "TROUPE_PROJECTIONS_URL"}},
		{"no loyalty", map[string]string{"--loyalty-url": ""}, []string{"--loyalty-url", "TROUPE_LOYALTY_URL"}},
		{"relative URL", map[string]string{"--loyalty-url": "loyalty:8080"}, []string{"--loyalty-url", "http"}},
		{"bad webhook URL", map[string]string{"--webhook-url": "ftp://x"}, []string{"--webhook-url"}},
		{"bad rate", map[string]string{"--rate-limit": "fast"}, []string{"--rate-limit"}},
		{"zero rate", map[string]string{"--rate-limit": "0"}, []string{"--rate-limit"}},
		{"bad burst", map[string]string{"--rate-burst": "-1"}, []string{"--rate-burst"}},
		{"bad timeout", map[string]string{"--upstream-timeout": "soon"}, []string{"--upstream-timeout"}},
		{"unknown flag", map[string]string{"--nope": "1"}, []string{"--nope"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			done, _ := gwRun(context.Background(), argsWith(tc.override)...)
			err := <-done
			var ue usageError
			if !errors.As(err, &ue) {
				t.Fatalf("error %v, want a usage error", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not mention %q", err, w)
				}
			}
		})
	}

	t.Run("busy port", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		done, _ := gwRun(context.Background(), argsWith(map[string]string{"--http-addr": ln.Addr().String()})...)
		err = <-done
		var ue usageError
		if err == nil || errors.As(err, &ue) || !strings.Contains(err.Error(), ln.Addr().String()) ||
			!strings.Contains(err.Error(), "--http-addr") {
			t.Fatalf("busy port: %v, want a failure naming the address and --http-addr", err)
		}
	})
}
