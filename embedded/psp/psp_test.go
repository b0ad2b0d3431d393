package psp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/troupe-dev/troupe/embedded/psp"
)

func start(t *testing.T, st psp.Settings) *psp.Server {
	t.Helper()
	srv, err := psp.Start(context.Background(), psp.Config{Settings: st})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

func call(t *testing.T, method, url, key string, body any, out any) int {
	t.Helper()
	var buf bytes.Buffer
	if body != nil {
		_ = json.NewEncoder(&buf).Encode(body)
	}
	req, _ := http.NewRequest(method, url, &buf)
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if out != nil && res.StatusCode < 300 {
		if err := json.NewDecoder(res.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
	return res.StatusCode
}

type payReq struct {
	AmountCents int64  `json:"amountCents"`
	Currency    string `json:"currency"`
	Reference   string `json:"reference"`
}

func TestPaymentIsIdempotentByKey(t *testing.T) {
	t.Parallel()
	srv := start(t, psp.Settings{})
	var first, again, got psp.PaymentResult
	if code := call(t, "POST", srv.URL()+"/payments", "k1", payReq{500, "EUR", "o1"}, &first); code != 201 || first.Status != psp.StatusCaptured {
		t.Fatalf("POST = %d %+v", code, first)
	}
	call(t, "POST", srv.URL()+"/payments", "k1", payReq{500, "EUR", "o1"}, &again)
	if again != first {
		t.Fatalf("repeat = %+v, want %+v", again, first)
	}
	if code := call(t, "GET", srv.URL()+"/payments/k1", "", nil, &got); code != 200 || got != first {
		t.Fatalf("GET = %d %+v", code, got)
	}
	if code := call(t, "GET", srv.URL()+"/payments/nope", "", nil, nil); code != 404 {
		t.Fatalf("GET unknown = %d, want 404", code)
	}
	if code := call(t, "POST", srv.URL()+"/payments", "k1", payReq{600, "EUR", "o1"}, nil); code != 422 {
		t.Fatalf("same key, other body = %d, want 422", code)
	}
	if code := call(t, "POST", srv.URL()+"/payments", "", payReq{600, "EUR", "o1"}, nil); code != 400 {
		t.Fatalf("no key = %d, want 400", code)
	}
	if total, captured := srv.Payments(); total != 1 || captured != 1 {
		t.Fatalf("payments = %d/%d", total, captured)
	}
}

func TestConcurrentSameKeyMakesOnePayment(t *testing.T) {
	t.Parallel()
	srv := start(t, psp.Settings{DeclineRate: 0.5})
	var wg sync.WaitGroup
	results := make([]psp.PaymentResult, 16)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			call(t, "POST", srv.URL()+"/payments", "same", payReq{100, "EUR", "o"}, &results[i])
		}()
	}
	wg.Wait()
	for _, r := range results[1:] {
		if r != results[0] {
			t.Fatalf("results differ: %+v vs %+v", r, results[0])
		}
	}
	if total, _ := srv.Payments(); total != 1 {
		t.Fatalf("payments = %d, want 1", total)
	}
}

func TestSimControls(t *testing.T) {
	t.Parallel()
	srv := start(t, psp.Settings{})
	if code := call(t, "PUT", srv.URL()+"/_sim", "", psp.Settings{DeclineRate: 1}, nil); code != 200 {
		t.Fatalf("PUT /_sim = %d", code)
	}
	var r psp.PaymentResult
	call(t, "POST", srv.URL()+"/payments", "d1", payReq{100, "EUR", "o"}, &r)
	if r.Status != psp.StatusDeclined {
		t.Fatalf("decline rate 1: status %q", r.Status)
	}

	call(t, "PUT", srv.URL()+"/_sim", "", psp.Settings{Down: true}, nil)
	if code := call(t, "POST", srv.URL()+"/payments", "k2", payReq{100, "EUR", "o"}, nil); code != 503 {
		t.Fatalf("down: POST = %d, want 503", code)
	}
	if code := call(t, "GET", srv.URL()+"/payments/d1", "", nil, nil); code != 503 {
		t.Fatalf("down: GET = %d, want 503", code)
	}
	if total, _ := srv.Payments(); total != 1 {
		t.Fatal("a payment was processed while down")
	}

	call(t, "PUT", srv.URL()+"/_sim", "", psp.Settings{LatencyMs: 300}, nil)
	client := &http.Client{Timeout: 50 * time.Millisecond}
	body, _ := json.Marshal(payReq{100, "EUR", "o"})
	req, _ := http.NewRequest("POST", srv.URL()+"/payments", bytes.NewReader(body))
	req.Header.Set("Idempotency-Key", "slow")
	if _, err := client.Do(req); err == nil {
		t.Fatal("a 300 ms answer arrived within 50 ms")
	}
	var got psp.PaymentResult
	if code := call(t, "GET", srv.URL()+"/payments/slow", "", nil, &got); code != 200 || got.Status != psp.StatusCaptured {
		t.Fatalf("after a timeout: GET = %d %+v; want the captured payment", code, got)
	}
	if code := call(t, "PUT", srv.URL()+"/_sim", "", psp.Settings{DeclineRate: 2}, nil); code != 422 {
		t.Fatalf("bad settings = %d, want 422", code)
	}
}

func TestRefunds(t *testing.T) {
	t.Parallel()
	srv := start(t, psp.Settings{})
	var p psp.PaymentResult
	call(t, "POST", srv.URL()+"/payments", "k", payReq{500, "EUR", "o"}, &p)
	type refReq struct {
		PaymentID   string `json:"paymentId"`
		AmountCents int64  `json:"amountCents"`
	}
	var r1, r2 psp.RefundResult
	if code := call(t, "POST", srv.URL()+"/refunds", "r", refReq{p.ID, 500}, &r1); code != 201 {
		t.Fatalf("refund = %d", code)
	}
	if code := call(t, "POST", srv.URL()+"/refunds", "r", refReq{p.ID, 500}, &r2); code != 201 || r1 != r2 {
		t.Fatalf("repeat refund = %d %+v vs %+v", code, r2, r1)
	}
	if code := call(t, "POST", srv.URL()+"/refunds", "r2", refReq{p.ID, 1}, nil); code != 422 {
		t.Fatalf("refund beyond the amount = %d, want 422", code)
	}
	if code := call(t, "POST", srv.URL()+"/refunds", "r3", refReq{"psp_nope", 1}, nil); code != 404 {
		t.Fatalf("refund of an unknown payment = %d, want 404", code)
	}
	if srv.Refunds() != 1 {
		t.Fatalf("refunds = %d, want 1", srv.Refunds())
	}
}

func TestCloseOnContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := psp.Start(ctx, psp.Config{})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := http.Get(srv.URL() + "/_sim"); err != nil {
			_ = srv.Close()
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("server still answers after its context ended")
}
