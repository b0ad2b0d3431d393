package ports_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/troupe-dev/troupe/contexts/ordering/adapters"
	"github.com/troupe-dev/troupe/contexts/ordering/app"
	"github.com/troupe-dev/troupe/contexts/ordering/domain/order"
	"github.com/troupe-dev/troupe/contexts/ordering/internal/testenv"
	"github.com/troupe-dev/troupe/contexts/ordering/ports"
	"github.com/troupe-dev/troupe/shared/platform/httpapi"
)

type server struct {
	e      *echo.Echo
	auth   *httpapi.Auth
	app    *app.App
	orders *adapters.OrderRepository
}

func newServer(t *testing.T) *server {
	t.Helper()
	client := testenv.EventStore(t)
	reg := adapters.NewEventRegistry()
	orders, err := adapters.NewOrderRepository(client, reg)
	if err != nil {
		t.Fatal(err)
	}
	prices, err := adapters.NewPriceBookRepository(client, reg)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(app.Config{Orders: orders, Prices: prices, Logger: testenv.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.OnProductListed(context.Background(), "MUG-1", "Mug", 500, "EUR", 0, app.Cause{EventID: uuid.NewString()}); err != nil {
		t.Fatal(err)
	}
	auth, err := httpapi.NewAuth([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	e := httpapi.New(httpapi.Config{Logger: testenv.Quiet()})
	ports.NewHTTPServer(a, auth).Register(e)
	return &server{e: e, auth: auth, app: a, orders: orders}
}

func (s *server) token(t *testing.T, subject, role string) string {
	t.Helper()
	tok, err := s.auth.Issue(subject, role, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

type problem struct {
	Status int                  `json:"status"`
	Errors []httpapi.FieldError `json:"errors"`
}

func (s *server) do(t *testing.T, method, path, token, body string, headers ...string) (*httptest.ResponseRecorder, problem) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	if token != "" {
		req.Header.Set(echo.HeaderAuthorization, "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	s.e.ServeHTTP(rec, req)
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

const goodBody = `{"lines":[{"sku":"MUG-1","quantity":2}],"paymentMethod":"wallet"}`

func TestPlaceOrderHTTP(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	customer := s.token(t, "c-1", httpapi.RoleCustomer)

	rec, _ := s.do(t, http.MethodPost, "/api/orders", customer, goodBody)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var body struct {
		OrderID string `json:"orderId"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.OrderID == "" {
		t.Fatalf("body %s", rec.Body)
	}
	if loc := rec.Header().Get(echo.HeaderLocation); loc != "/api/orders/"+body.OrderID {
		t.Fatalf("Location %q", loc)
	}
	if c := rec.Header().Get(httpapi.HeaderConsistency); c != "ordering.order-"+body.OrderID+"@0" {
		t.Fatalf("consistency %q", c)
	}
	o, _, err := s.orders.Load(context.Background(), body.OrderID)
	if err != nil || o.TotalCents() != 1000 || o.CustomerID() != "c-1" {
		t.Fatalf("stored order %v", err)
	}
}

// TestPlaceOrderHTTPShippingAddress: the optional address is stored with
// the order.
func TestPlaceOrderHTTPShippingAddress(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	customer := s.token(t, "c-1", httpapi.RoleCustomer)
	rec, _ := s.do(t, http.MethodPost, "/api/orders", customer, `{"lines":[{"sku":"MUG-1","quantity":1}],"paymentMethod":"wallet",`+
		`"shippingAddress":{"recipient":"Ada","line1":"Main St 1","line2":"3rd floor","city":"Berlin","postalCode":"10115","country":"DE"}}`)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var body struct {
		OrderID string `json:"orderId"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	o, _, err := s.orders.Load(context.Background(), body.OrderID)
	if err != nil || o.ShippingAddress().Line2() != "3rd floor" || o.ShippingAddress().PostalCode() != "10115" {
		t.Fatalf("stored address %+v, %v", o.ShippingAddress(), err)
	}
}

func TestPlaceOrderHTTPIdempotencyKey(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	customer := s.token(t, "c-1", httpapi.RoleCustomer)
	first, _ := s.do(t, http.MethodPost, "/api/orders", customer, goodBody, ports.HeaderIdempotencyKey, "key-1")
	again, _ := s.do(t, http.MethodPost, "/api/orders", customer, goodBody, ports.HeaderIdempotencyKey, "key-1")
	if first.Code != http.StatusAccepted || again.Code != http.StatusAccepted || first.Body.String() != again.Body.String() {
		t.Fatalf("repeat: %d %s / %d %s", first.Code, first.Body, again.Code, again.Body)
	}
	rec, p := s.do(t, http.MethodPost, "/api/orders", customer,
		`{"lines":[{"sku":"MUG-1","quantity":3}],"paymentMethod":"wallet"}`, ports.HeaderIdempotencyKey, "key-1")
	if rec.Code != http.StatusUnprocessableEntity || len(p.Errors) != 1 || p.Errors[0].Field != "Idempotency-Key" {
		t.Fatalf("other body: %d %s", rec.Code, rec.Body)
	}
}

func TestPlaceOrderHTTPBadInput(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	customer := s.token(t, "c-1", httpapi.RoleCustomer)
	admin := s.token(t, "ops", httpapi.RoleAdmin)
	otherAuth, _ := httpapi.NewAuth([]byte("another-secret-another-secret-xx"))
	forged, _ := otherAuth.Issue("c-1", httpapi.RoleCustomer, time.Minute)
	manyLines := `{"paymentMethod":"wallet","lines":[` + strings.Repeat(`{"sku":"MUG-1","quantity":1},`, 100) + `{"sku":"MUG-1","quantity":1}]}`
	for _, tc := range []struct {
		name, token, body string
		status            int
		field             string
	}{
		{"no token", "", goodBody, 401, ""},
		{"forged token", forged, goodBody, 401, ""},
		{"admin role", admin, goodBody, 403, ""},
		{"malformed JSON", customer, `{"lines":`, 400, ""},
		{"wrong type", customer, `{"lines":[{"sku":"MUG-1","quantity":"2"}],"paymentMethod":"wallet"}`, 400, "lines.quantity"},
		{"no lines", customer, `{"paymentMethod":"wallet"}`, 422, "lines"},
		{"too many lines", customer, manyLines, 422, "lines"},
		{"zero quantity", customer, `{"lines":[{"sku":"MUG-1","quantity":1},{"sku":"MUG-1","quantity":0}],"paymentMethod":"wallet"}`, 422, "lines[1].quantity"},
		{"negative quantity", customer, `{"lines":[{"sku":"MUG-1","quantity":-1}],"paymentMethod":"wallet"}`, 422, "lines[0].quantity"},
		{"unknown SKU", customer, `{"lines":[{"sku":"MUG-1","quantity":1},{"sku":"MUG-1","quantity":1},{"sku":"GONE-1","quantity":1}],"paymentMethod":"wallet"}`, 422, "lines[2].sku"},
		{"payment method", customer, `{"lines":[{"sku":"MUG-1","quantity":1}],"paymentMethod":"cash"}`, 422, "paymentMethod"},
		{"address not an object", customer, `{"lines":[{"sku":"MUG-1","quantity":1}],"paymentMethod":"wallet","shippingAddress":"Main St 1"}`, 400, ""},
		{"address without city", customer, `{"lines":[{"sku":"MUG-1","quantity":1}],"paymentMethod":"wallet",` +
			`"shippingAddress":{"recipient":"Ada","line1":"Main St 1","postalCode":"10115","country":"DE"}}`, 422, "shippingAddress.city"},
		{"address country", customer, `{"lines":[{"sku":"MUG-1","quantity":1}],"paymentMethod":"wallet",` +
			`"shippingAddress":{"recipient":"Ada","line1":"Main St 1","city":"Berlin","postalCode":"10115","country":"Germany"}}`, 422, "shippingAddress.country"},
		{"oversized body", customer, `{"pad":"` + strings.Repeat("x", httpapi.MaxBodyBytes) + `"}`, 413, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := uuid.NewString()
			rec, p := s.do(t, http.MethodPost, "/api/orders", tc.token, tc.body, ports.HeaderIdempotencyKey, key)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if tc.field != "" && (len(p.Errors) == 0 || p.Errors[0].Field != tc.field) {
				t.Fatalf("errors %+v, want field %s", p.Errors, tc.field)
			}
			if rec.Header().Get(httpapi.HeaderConsistency) != "" {
				t.Fatal("a consistency token for a refused command")
			}
			// Nothing was appended: the same key with a good body is a first placement.
			ok, _ := s.do(t, http.MethodPost, "/api/orders", customer, goodBody, ports.HeaderIdempotencyKey, key)
			if ok.Code != http.StatusAccepted || !strings.HasSuffix(ok.Header().Get(httpapi.HeaderConsistency), "@0") {
				t.Fatalf("after a refusal: %d %s %s", ok.Code, ok.Header().Get(httpapi.HeaderConsistency), ok.Body)
			}
		})
	}
}

func TestCancelOrderHTTP(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	owner := s.token(t, "c-1", httpapi.RoleCustomer)
	other := s.token(t, "c-2", httpapi.RoleCustomer)
	place := func() string {
		rec, _ := s.do(t, http.MethodPost, "/api/orders", owner, goodBody)
		var body struct {
			OrderID string `json:"orderId"`
		}
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		return body.OrderID
	}
	id := place()
	path := "/api/orders/" + id + "/cancel"
	if rec, _ := s.do(t, http.MethodPost, path, "", ""); rec.Code != http.StatusUnauthorized {
		t.Fatalf("no token: %d", rec.Code)
	}
	if rec, _ := s.do(t, http.MethodPost, path, other, ""); rec.Code != http.StatusForbidden {
		t.Fatalf("another customer: %d", rec.Code)
	}
	if rec, _ := s.do(t, http.MethodPost, "/api/orders/"+uuid.NewString()+"/cancel", owner, ""); rec.Code != http.StatusNotFound {
		t.Fatalf("unknown order: %d", rec.Code)
	}
	if rec, _ := s.do(t, http.MethodPost, "/api/orders/not-a-uuid/cancel", owner, ""); rec.Code != http.StatusNotFound {
		t.Fatalf("malformed id: %d", rec.Code)
	}
	for range 2 {
		rec, _ := s.do(t, http.MethodPost, path, owner, "")
		if rec.Code != http.StatusAccepted || rec.Header().Get(httpapi.HeaderConsistency) != "ordering.order-"+id+"@1" {
			t.Fatalf("cancel: %d %q", rec.Code, rec.Header().Get(httpapi.HeaderConsistency))
		}
	}
	o, _, err := s.orders.Load(context.Background(), id)
	if err != nil || o.Reason() != order.ReasonCustomerRequested {
		t.Fatalf("order %v", err)
	}
	confirmed := place()
	if err := s.app.OnPaymentCaptured(context.Background(), confirmed, app.Cause{EventID: uuid.NewString()}); err != nil {
		t.Fatal(err)
	}
	if rec, _ := s.do(t, http.MethodPost, "/api/orders/"+confirmed+"/cancel", owner, ""); rec.Code != http.StatusConflict {
		t.Fatalf("confirmed: %d", rec.Code)
	}
	if _, _, err := s.orders.Load(context.Background(), uuid.NewString()); !errors.Is(err, app.ErrNotFound) {
		t.Fatalf("load unknown: %v", err)
	}
}
