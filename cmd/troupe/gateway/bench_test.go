package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkGatewayOverhead measures a proxied query (GET /api/products,
// anonymous; and GET /api/customers/{id}/wallet with a token to verify)
// against the same request sent straight to the component, both over
// loopback TCP from one client in this process; it reports the ratio.
//
//	go test -run '^$' -bench GatewayOverhead ./gateway/
func BenchmarkGatewayOverhead(b *testing.B) {
	component := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"items":[{"sku":"SKU-1","name":"x","priceCents":100,"currency":"EUR","available":3}],"nextCursor":null}`)
	}))
	defer component.Close()
	up := Upstreams{Catalog: component.URL, Ordering: component.URL, Payments: component.URL,
		Projections: component.URL, Loyalty: component.URL}
	auth, err := newTestAuth()
	if err != nil {
		b.Fatal(err)
	}
	h, err := New(Config{Auth: auth, Upstreams: up, RateLimit: 1e9, RateBurst: 1e9})
	if err != nil {
		b.Fatal(err)
	}
	gw := httptest.NewServer(h)
	defer gw.Close()
	tok, err := auth.Issue("c-1", "customer", time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

	get := func(b *testing.B, url string) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
			}
		})
	}
	var direct, proxied float64
	for _, path := range []string{"/api/products", "/api/customers/c-1/wallet"} {
		b.Run("direct"+path, func(b *testing.B) {
			get(b, component.URL+path)
			direct = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		})
		b.Run("gateway"+path, func(b *testing.B) {
			get(b, gw.URL+path)
			proxied = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			if direct > 0 {
				b.ReportMetric(proxied/direct, "x-direct")
			}
		})
	}
}
