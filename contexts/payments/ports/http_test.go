package ports_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/troupe-dev/troupe/contexts/payments/app"
	"github.com/troupe-dev/troupe/contexts/payments/domain/wallet"
	"github.com/troupe-dev/troupe/contexts/payments/ports"
	"github.com/troupe-dev/troupe/shared/platform/httpapi"
)

// fakeDepositor records the commands it gets; the app's own tests run the
// real command against the event store.
type fakeDepositor struct {
	mu   sync.Mutex
	cmds []app.DepositFunds
	err  error
}

func (f *fakeDepositor) DepositFunds(_ context.Context, cmd app.DepositFunds) (app.DepositResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return app.DepositResult{}, f.err
	}
	f.cmds = append(f.cmds, cmd)
	return app.DepositResult{DepositID: "d-1", Stream: "payments.wallet-" + cmd.CustomerID, Revision: 4}, nil
}

var secret = []byte("0123456789abcdef0123456789abcdef")

func setup(t *testing.T) (http.Handler, *fakeDepositor, *httpapi.Auth) {
	t.Helper()
	auth, err := httpapi.NewAuth(secret)
	if err != nil {
		t.Fatal(err)
	}
	dep := &fakeDepositor{}
	e := httpapi.New(httpapi.Config{})
	ports.NewHTTPServer(dep, auth).Register(e)
	return e, dep, auth
}

func token(t *testing.T, auth *httpapi.Auth, sub, role string) string {
	t.Helper()
	tok, err := auth.Issue(sub, role, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

type problem struct {
	Status int                  `json:"status"`
	Errors []httpapi.FieldError `json:"errors"`
}

func TestDepositEndpoint(t *testing.T) {
	t.Parallel()
	h, dep, auth := setup(t)
	alice := token(t, auth, "alice", httpapi.RoleCustomer)
	bob := token(t, auth, "bob", httpapi.RoleCustomer)
	admin := token(t, auth, "root", httpapi.RoleAdmin)
	big := `{"amountCents": 1, "pad": "` + strings.Repeat("x", httpapi.MaxBodyBytes) + `"}`
	tests := []struct {
		name, path, tok, body, key string
		status                     int
		field                      string
	}{
		{"owner", "/api/customers/alice/wallet/deposits", alice, `{"amountCents": 500}`, "", 202, ""},
		{"admin", "/api/customers/alice/wallet/deposits", admin, `{"amountCents": 10000000}`, "k1", 202, ""},
		{"someone else", "/api/customers/alice/wallet/deposits", bob, `{"amountCents": 500}`, "", 403, ""},
		{"no token", "/api/customers/alice/wallet/deposits", "", `{"amountCents": 500}`, "", 401, ""},
		{"forged token", "/api/customers/alice/wallet/deposits", alice + "x", `{"amountCents": 500}`, "", 401, ""},
		{"zero", "/api/customers/alice/wallet/deposits", alice, `{"amountCents": 0}`, "", 422, "amountCents"},
		{"too much", "/api/customers/alice/wallet/deposits", alice, `{"amountCents": 10000001}`, "", 422, "amountCents"},
		{"missing", "/api/customers/alice/wallet/deposits", alice, `{}`, "", 422, "amountCents"},
		{"wrong type", "/api/customers/alice/wallet/deposits", alice, `{"amountCents": "5"}`, "", 400, "amountCents"},
		{"malformed", "/api/customers/alice/wallet/deposits", alice, `{"amountCents": `, "", 400, ""},
		{"oversized", "/api/customers/alice/wallet/deposits", alice, big, "", 413, ""},
		{"bad customer id", "/api/customers/al!ce/wallet/deposits", admin, `{"amountCents": 5}`, "", 422, "customerId"},
		{"bad key", "/api/customers/alice/wallet/deposits", alice, `{"amountCents": 5}`, "k\x01", 422, "Idempotency-Key"},
	}
	for _, tt := range tests {
		before := len(dep.cmds)
		req := httptest.NewRequest(http.MethodPost, tt.path, strings.NewReader(tt.body))
		req.Header.Set("Content-Type", "application/json")
		if tt.tok != "" {
			req.Header.Set("Authorization", "Bearer "+tt.tok)
		}
		if tt.key != "" {
			req.Header.Set("Idempotency-Key", tt.key)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tt.status {
			t.Errorf("%s: status %d, want %d (%s)", tt.name, rec.Code, tt.status, rec.Body)
			continue
		}
		if tt.status == 202 {
			if got := rec.Header().Get(httpapi.HeaderConsistency); got != "payments.wallet-alice@4" {
				t.Errorf("%s: consistency %q", tt.name, got)
			}
			var body struct{ DepositID string }
			_ = json.Unmarshal(rec.Body.Bytes(), &body)
			if body.DepositID != "d-1" {
				t.Errorf("%s: body %s", tt.name, rec.Body)
			}
			continue
		}
		if len(dep.cmds) != before {
			t.Errorf("%s: the command ran on bad input", tt.name)
		}
		if ct := rec.Header().Get("Content-Type"); ct != httpapi.ContentTypeProblem {
			t.Errorf("%s: content type %q", tt.name, ct)
		}
		if tt.field != "" {
			var p problem
			_ = json.Unmarshal(rec.Body.Bytes(), &p)
			if len(p.Errors) == 0 || p.Errors[0].Field != tt.field {
				t.Errorf("%s: problem %s does not name %s", tt.name, rec.Body, tt.field)
			}
		}
	}
	if len(dep.cmds) != 2 || dep.cmds[1].Subject != "root" || dep.cmds[1].IdempotencyKey != "k1" {
		t.Fatalf("commands %+v", dep.cmds)
	}
}

func TestDepositKeyReusedIs422(t *testing.T) {
	t.Parallel()
	h, dep, auth := setup(t)
	dep.err = wallet.ErrIdempotencyKeyReused
	req := httptest.NewRequest(http.MethodPost, "/api/customers/alice/wallet/deposits", strings.NewReader(`{"amountCents": 5}`))
	req.Header.Set("Authorization", "Bearer "+token(t, auth, "alice", httpapi.RoleCustomer))
	req.Header.Set("Idempotency-Key", "k")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var p problem
	_ = json.Unmarshal(rec.Body.Bytes(), &p)
	if rec.Code != 422 || len(p.Errors) == 0 || p.Errors[0].Field != "Idempotency-Key" {
		t.Fatalf("status %d, body %s", rec.Code, rec.Body)
	}
}
