package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/labstack/echo/v4"

	"github.com/troupe-dev/troupe/shared/platform/httpapi"
	"github.com/troupe-dev/troupe/shared/platform/readmodel"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

func newServer(t *testing.T) (*echo.Echo, *httpapi.Auth) {
	t.Helper()
	auth, err := httpapi.NewAuth(secret)
	if err != nil {
		t.Fatal(err)
	}
	e := httpapi.New(httpapi.Config{})
	g := e.Group("/api", auth.Authenticate())
	g.POST("/things", func(c echo.Context) error {
		var body struct {
			Quantity int    `json:"quantity"`
			Name     string `json:"name"`
		}
		if err := httpapi.BindJSON(c, &body); err != nil {
			return err
		}
		if body.Quantity < 1 {
			return httpapi.InvalidField("quantity", "must be at least 1")
		}
		httpapi.SetConsistency(c, httpapi.StreamRevision{Stream: "catalog.product-A@B", Revision: 3})
		return c.NoContent(http.StatusAccepted)
	})
	g.GET("/admin", func(c echo.Context) error { return c.NoContent(http.StatusOK) }, httpapi.RequireRole(httpapi.RoleAdmin))
	return e, auth
}

type problem struct {
	Status int                  `json:"status"`
	Errors []httpapi.FieldError `json:"errors"`
}

func do(t *testing.T, e *echo.Echo, method, path, token, body string) (*httptest.ResponseRecorder, problem) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	if token != "" {
		req.Header.Set(echo.HeaderAuthorization, "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	var p problem
	if rec.Code >= 400 {
		if ct := rec.Header().Get(echo.HeaderContentType); ct != httpapi.ContentTypeProblem {
			t.Fatalf("%s %s: error content type %q", method, path, ct)
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Status != rec.Code {
			t.Fatalf("%s %s: problem body %q (%v)", method, path, rec.Body, err)
		}
	}
	return rec, p
}

// TestErrorsAndAuth: every failure is problem+json with the right status
// and, for input errors, the field; a valid call passes.
func TestErrorsAndAuth(t *testing.T) {
	e, auth := newServer(t)
	customer, _ := auth.Issue("c-1", httpapi.RoleCustomer, time.Minute)
	admin, _ := auth.Issue("ops", httpapi.RoleAdmin, time.Minute)
	expired, _ := auth.Issue("c-1", httpapi.RoleCustomer, -time.Minute)
	otherAuth, _ := httpapi.NewAuth([]byte("another-secret-another-secret-xx"))
	forged, _ := otherAuth.Issue("c-1", httpapi.RoleAdmin, time.Minute)
	none := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "c-1", "role": "admin", "iss": "troupe",
		"aud": "troupe-api", "exp": time.Now().Add(time.Hour).Unix()})
	algNone, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)

	for _, tc := range []struct {
		name, method, path, token, body string
		status                          int
		field                           string
	}{
		{"ok", "POST", "/api/things", customer, `{"quantity": 2}`, 202, ""},
		{"no token", "POST", "/api/things", "", `{"quantity": 2}`, 401, ""},
		{"expired", "POST", "/api/things", expired, `{"quantity": 2}`, 401, ""},
		{"forged", "POST", "/api/things", forged, `{"quantity": 2}`, 401, ""},
		{"alg none", "POST", "/api/things", algNone, `{"quantity": 2}`, 401, ""},
		{"malformed", "POST", "/api/things", customer, `{"quantity": `, 400, ""},
		{"empty", "POST", "/api/things", customer, ``, 400, ""},
		{"wrong type", "POST", "/api/things", customer, `{"quantity": "two"}`, 400, "quantity"},
		{"invalid", "POST", "/api/things", customer, `{"quantity": 0}`, 422, "quantity"},
		{"too big", "POST", "/api/things", customer, `{"name": "` + strings.Repeat("x", 70<<10) + `"}`, 413, ""},
		{"64 KiB exactly", "POST", "/api/things", customer, sized(httpapi.MaxBodyBytes), 202, ""},
		{"64 KiB and a byte", "POST", "/api/things", customer, sized(httpapi.MaxBodyBytes + 1), 413, ""},
		{"wrong role", "GET", "/api/admin", customer, ``, 403, ""},
		{"admin", "GET", "/api/admin", admin, ``, 200, ""},
		{"unknown path", "GET", "/api/nope", customer, ``, 404, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, p := do(t, e, tc.method, tc.path, tc.token, tc.body)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if tc.field != "" && (len(p.Errors) != 1 || p.Errors[0].Field != tc.field) {
				t.Fatalf("errors %+v, want one naming %q", p.Errors, tc.field)
			}
			if tc.status == 202 && rec.Header().Get(httpapi.HeaderConsistency) != "catalog.product-A@B@3" {
				t.Fatalf("consistency header %q", rec.Header().Get(httpapi.HeaderConsistency))
			}
		})
	}
}

// sized is a valid request body of exactly n bytes.
func sized(n int) string {
	const head, tail = `{"quantity": 2, "name": "`, `"}`
	return head + strings.Repeat("x", n-len(head)-len(tail)) + tail
}

// TestConsistencyTokens: items split on their last "@"; bad items fail.
func TestConsistencyTokens(t *testing.T) {
	got, err := httpapi.ParseConsistency("ordering.order-1@4, a@b@7")
	if err != nil || len(got) != 2 || got[0] != (httpapi.StreamRevision{Stream: "ordering.order-1", Revision: 4}) ||
		got[1] != (httpapi.StreamRevision{Stream: "a@b", Revision: 7}) {
		t.Fatalf("parse = %+v, %v", got, err)
	}
	for _, bad := range []string{"", "x", "x@", "@3", "x@-1", "x@y"} {
		if _, err := httpapi.ParseConsistency(bad); err == nil {
			t.Errorf("ParseConsistency(%q) succeeded", bad)
		}
	}
	if httpapi.FormatConsistency(got...) != "ordering.order-1@4,a@b@7" {
		t.Fatal("format does not round-trip")
	}
}

// TestHealth: /healthz always answers; /readyz follows the Ready func and
// says when to retry.
func TestHealth(t *testing.T) {
	notReady := errors.New("subscriptions not running")
	e := httpapi.New(httpapi.Config{Ready: func(context.Context) error { return notReady }})
	if rec, _ := do(t, e, "GET", "/healthz", "", ""); rec.Code != 200 {
		t.Fatalf("healthz %d", rec.Code)
	}
	rec, _ := do(t, e, "GET", "/readyz", "", "")
	if rec.Code != 503 || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("readyz while not ready: %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	notReady = nil
	if rec, _ := do(t, e, "GET", "/readyz", "", ""); rec.Code != 200 {
		t.Fatalf("readyz when ready: %d", rec.Code)
	}
}

// TestReadyzReadModels: /readyz shows every read model's lag, ready or
// not; a lagging model is flagged but does not make the service unready.
func TestReadyzReadModels(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	models := map[string]readmodel.Status{"projections": {Behind: 5000, NewestApplied: &at, AgeSeconds: 12.5, Lagging: true}}
	var notReady error
	e := httpapi.New(httpapi.Config{
		Ready:      func(context.Context) error { return notReady },
		ReadModels: func(context.Context) map[string]readmodel.Status { return models },
	})
	var body struct {
		Status     string                      `json:"status"`
		ReadModels map[string]readmodel.Status `json:"readModels"`
	}
	rec, _ := do(t, e, "GET", "/readyz", "", "")
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != 200 || body.Status != "ready" {
		t.Fatalf("readyz of a lagging model: %d %s", rec.Code, rec.Body)
	}
	got := body.ReadModels["projections"]
	if got.Behind != 5000 || !got.Lagging || got.NewestApplied == nil || !got.NewestApplied.Equal(at) || got.AgeSeconds != 12.5 {
		t.Fatalf("readModels: %s", rec.Body)
	}
	notReady = errors.New("projections: not consuming")
	rec, _ = do(t, e, "GET", "/readyz", "", "")
	var p httpapi.Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || rec.Code != 503 ||
		rec.Header().Get(echo.HeaderContentType) != httpapi.ContentTypeProblem || p.ReadModels["projections"].Behind != 5000 {
		t.Fatalf("readyz while not ready: %d %q %s", rec.Code, rec.Header().Get(echo.HeaderContentType), rec.Body)
	}
}

// TestVerifiedTokenCache: a token verified once (and so remembered) is
// still refused once it expires, and a token differing from a remembered
// one by its signature is refused.
func TestVerifiedTokenCache(t *testing.T) {
	t.Parallel()
	auth, err := httpapi.NewAuth(secret)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := auth.Issue("c-1", httpapi.RoleCustomer, time.Second)
	for i := 0; i < 2; i++ {
		if p, err := auth.Verify(tok); err != nil || p.Subject != "c-1" || p.Role != httpapi.RoleCustomer {
			t.Fatalf("fresh token, try %d: %+v, %v", i, p, err)
		}
	}
	forged := tok[:len(tok)-2] + "AA"
	if forged == tok {
		forged = tok[:len(tok)-2] + "BB"
	}
	if _, err := auth.Verify(forged); err == nil {
		t.Fatal("a token with another signature was accepted")
	}
	time.Sleep(1100 * time.Millisecond) // past the token's expiry (whole seconds)
	if _, err := auth.Verify(tok); err == nil {
		t.Fatal("an expired token was accepted from the cache")
	}
}

// BenchmarkVerify: a repeated token (the cache) beside full HS256
// verification of a new token each time.
func BenchmarkVerify(b *testing.B) {
	auth, _ := httpapi.NewAuth(secret)
	tok, _ := auth.Issue("c-1", httpapi.RoleCustomer, time.Hour)
	b.Run("repeated", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := auth.Verify(tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fresh", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			// Another Auth each time: nothing remembered.
			fresh, _ := httpapi.NewAuth(secret)
			if _, err := fresh.Verify(tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestPrincipal: owners and admins may act for a customer, nobody else.
func TestPrincipal(t *testing.T) {
	c := httpapi.Principal{Subject: "c-1", Role: httpapi.RoleCustomer}
	a := httpapi.Principal{Subject: "ops", Role: httpapi.RoleAdmin}
	if !c.MayActFor("c-1") || c.MayActFor("c-2") || !a.MayActFor("c-2") {
		t.Fatal("MayActFor is wrong")
	}
	if _, err := httpapi.NewAuth([]byte("short")); err == nil {
		t.Fatal("a short secret was accepted")
	}
}
