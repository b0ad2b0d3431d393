package ports_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/troupe-dev/troupe/contexts/catalog/adapters"
	"github.com/troupe-dev/troupe/contexts/catalog/app"
	"github.com/troupe-dev/troupe/contexts/catalog/ports"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
	"github.com/troupe-dev/troupe/shared/platform/httpapi"
)

type api struct {
	e               *echo.Echo
	admin, customer string
	forged          string
}

func newAPI(t *testing.T) api {
	t.Helper()
	evs := adapters.Events()
	products, err := adapters.NewProductRepository(client, evs, 0)
	if err != nil {
		t.Fatal(err)
	}
	reservations, err := adapters.NewReservationRepository(client, evs, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(app.Config{Products: products, Reservations: reservations})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := httpapi.NewAuth([]byte(strings.Repeat("s", 32)))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := httpapi.NewAuth([]byte(strings.Repeat("x", 32)))
	e := httpapi.New(httpapi.Config{})
	ports.NewHTTPServer(a, auth).Register(e)
	admin, _ := auth.Issue("boss", httpapi.RoleAdmin, time.Hour)
	customer, _ := auth.Issue("c1", httpapi.RoleCustomer, time.Hour)
	forged, _ := other.Issue("boss", httpapi.RoleAdmin, time.Hour)
	return api{e: e, admin: admin, customer: customer, forged: forged}
}

type answer struct {
	status  int
	header  http.Header
	problem struct {
		Status int                  `json:"status"`
		Errors []httpapi.FieldError `json:"errors"`
	}
	body string
}

func (a api) do(t *testing.T, method, path, token, body string) answer {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	if token != "" {
		req.Header.Set(echo.HeaderAuthorization, "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	a.e.ServeHTTP(rec, req)
	ans := answer{status: rec.Code, header: rec.Header(), body: rec.Body.String()}
	if rec.Code >= 400 {
		if ct := rec.Header().Get(echo.HeaderContentType); ct != httpapi.ContentTypeProblem {
			t.Fatalf("%s %s: %d with content type %q", method, path, rec.Code, ct)
		}
		_ = json.Unmarshal(rec.Body.Bytes(), &ans.problem)
	}
	return ans
}

func newSKU() string {
	return "H-" + strings.ToUpper(strings.ReplaceAll(uuid.NewString(), "-", "")[:20])
}

// streamLength is how many events a stream holds (0 when it does not exist).
func streamLength(t *testing.T, stream string) int {
	t.Helper()
	rs, err := client.ReadStream(context.Background(), stream, esdb.ReadStreamOptions{From: esdb.Start{}}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	n := 0
	for {
		if _, err := rs.Recv(); err != nil {
			if eventstore.IsStreamNotFound(err) {
				return 0
			}
			return n
		}
		n++
	}
}

func TestListProductEndpoint(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	sku := newSKU()
	body := `{"sku":"` + sku + `","name":"Mug","priceCents":900}`

	ans := a.do(t, http.MethodPost, "/api/catalog/products", a.admin, body)
	if ans.status != http.StatusCreated {
		t.Fatalf("status %d: %s", ans.status, ans.body)
	}
	if got := ans.header.Get(httpapi.HeaderConsistency); got != "catalog.product-"+sku+"@0" {
		t.Fatalf("consistency %q", got)
	}
	if got := ans.header.Get(echo.HeaderLocation); got != "/api/products/"+sku {
		t.Fatalf("location %q", got)
	}
	if ans := a.do(t, http.MethodPost, "/api/catalog/products", a.admin, body); ans.status != http.StatusConflict {
		t.Fatalf("second list: %d %s", ans.status, ans.body)
	}
	if n := streamLength(t, "catalog.product-"+sku); n != 1 {
		t.Fatalf("%d events", n)
	}
}

func TestEndpointsRefuseBadInput(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	sku := newSKU()
	listed := newSKU()
	if ans := a.do(t, http.MethodPost, "/api/catalog/products", a.admin, `{"sku":"`+listed+`","name":"Mug","priceCents":900}`); ans.status != http.StatusCreated {
		t.Fatal(ans.body)
	}
	list := "/api/catalog/products"
	price := "/api/catalog/products/" + listed + "/price"
	stock := "/api/catalog/products/" + listed + "/stock"
	tests := []struct {
		name, method, path, token, body string
		status                          int
		field                           string
	}{
		{"no token", http.MethodPost, list, "", `{"sku":"` + sku + `","name":"a","priceCents":1}`, 401, ""},
		{"forged token", http.MethodPost, list, a.forged, `{"sku":"` + sku + `","name":"a","priceCents":1}`, 401, ""},
		{"customer", http.MethodPost, list, a.customer, `{"sku":"` + sku + `","name":"a","priceCents":1}`, 403, ""},
		{"malformed", http.MethodPost, list, a.admin, `{"sku":`, 400, ""},
		{"empty body", http.MethodPost, list, a.admin, ``, 400, ""},
		{"price a string", http.MethodPost, list, a.admin, `{"sku":"` + sku + `","name":"a","priceCents":"9"}`, 400, "priceCents"},
		{"price a fraction", http.MethodPost, list, a.admin, `{"sku":"` + sku + `","name":"a","priceCents":9.5}`, 400, "priceCents"},
		{"missing sku", http.MethodPost, list, a.admin, `{"name":"a","priceCents":1}`, 422, "sku"},
		{"lower-case sku", http.MethodPost, list, a.admin, `{"sku":"abc-1","name":"a","priceCents":1}`, 422, "sku"},
		{"missing name", http.MethodPost, list, a.admin, `{"sku":"` + sku + `","priceCents":1}`, 422, "name"},
		{"blank name", http.MethodPost, list, a.admin, `{"sku":"` + sku + `","name":" ","priceCents":1}`, 422, "name"},
		{"missing price", http.MethodPost, list, a.admin, `{"sku":"` + sku + `","name":"a"}`, 422, "priceCents"},
		{"zero price", http.MethodPost, list, a.admin, `{"sku":"` + sku + `","name":"a","priceCents":0}`, 422, "priceCents"},
		{"negative price", http.MethodPost, list, a.admin, `{"sku":"` + sku + `","name":"a","priceCents":-5}`, 422, "priceCents"},
		{"too big", http.MethodPost, list, a.admin, `{"sku":"` + sku + `","name":"` + strings.Repeat("a", 70_000) + `","priceCents":1}`, 413, ""},
		{"reprice customer", http.MethodPut, price, a.customer, `{"priceCents":5}`, 403, ""},
		{"reprice zero", http.MethodPut, price, a.admin, `{"priceCents":0}`, 422, "priceCents"},
		{"reprice missing", http.MethodPut, price, a.admin, `{}`, 422, "priceCents"},
		{"reprice unknown", http.MethodPut, "/api/catalog/products/" + sku + "/price", a.admin, `{"priceCents":5}`, 404, ""},
		{"reprice bad sku", http.MethodPut, "/api/catalog/products/x/price", a.admin, `{"priceCents":5}`, 422, "sku"},
		{"stock zero", http.MethodPost, stock, a.admin, `{"quantity":0}`, 422, "quantity"},
		{"stock too much", http.MethodPost, stock, a.admin, `{"quantity":1000001}`, 422, "quantity"},
		{"stock a string", http.MethodPost, stock, a.admin, `{"quantity":"1"}`, 400, "quantity"},
		{"stock unknown", http.MethodPost, "/api/catalog/products/" + sku + "/stock", a.admin, `{"quantity":1}`, 404, ""},
		{"stock customer", http.MethodPost, stock, a.customer, `{"quantity":1}`, 403, ""},
	}
	for _, tt := range tests {
		ans := a.do(t, tt.method, tt.path, tt.token, tt.body)
		if ans.status != tt.status {
			t.Errorf("%s: status %d, want %d: %s", tt.name, ans.status, tt.status, ans.body)
			continue
		}
		if tt.field != "" && (len(ans.problem.Errors) != 1 || ans.problem.Errors[0].Field != tt.field) {
			t.Errorf("%s: errors %+v, want field %s", tt.name, ans.problem.Errors, tt.field)
		}
	}
	if n := streamLength(t, "catalog.product-"+sku); n != 0 {
		t.Fatalf("bad input appended %d events", n)
	}
	if n := streamLength(t, "catalog.product-"+listed); n != 1 {
		t.Fatalf("bad input appended to the listed product: %d events", n)
	}
}

func TestRepriceAndStockEndpoints(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	sku := newSKU()
	if ans := a.do(t, http.MethodPost, "/api/catalog/products", a.admin, `{"sku":"`+sku+`","name":"Mug","priceCents":900}`); ans.status != http.StatusCreated {
		t.Fatal(ans.body)
	}
	ans := a.do(t, http.MethodPut, "/api/catalog/products/"+sku+"/price", a.admin, `{"priceCents":1000}`)
	if ans.status != http.StatusAccepted || ans.header.Get(httpapi.HeaderConsistency) != "catalog.product-"+sku+"@1" {
		t.Fatalf("reprice: %d %q %s", ans.status, ans.header.Get(httpapi.HeaderConsistency), ans.body)
	}
	ans = a.do(t, http.MethodPost, "/api/catalog/products/"+sku+"/stock", a.admin, `{"quantity":1000000}`)
	if ans.status != http.StatusAccepted || ans.header.Get(httpapi.HeaderConsistency) != "catalog.product-"+sku+"@2" {
		t.Fatalf("stock: %d %q %s", ans.status, ans.header.Get(httpapi.HeaderConsistency), ans.body)
	}
}
