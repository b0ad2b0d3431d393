package service_test

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/troupe-dev/troupe/projections/internal/scenario"
	"github.com/troupe-dev/troupe/projections/model"
	"github.com/troupe-dev/troupe/projections/service"
	"github.com/troupe-dev/troupe/shared/events"
	"github.com/troupe-dev/troupe/shared/platform/httpapi"
)

type productList struct {
	Items      []model.Product `json:"items"`
	NextCursor *string         `json:"nextCursor"`
}

type orderList struct {
	Items      []model.Order `json:"items"`
	NextCursor *string       `json:"nextCursor"`
}

// TestQueryAPI: fed from Kafka, every endpoint answers with the design's
// auth rules, pagination, errors and consistency tokens; redelivered
// history changes nothing.
func TestQueryAPI(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, brokers []string, redisURL string) {
		e := newEnv(t, brokers, redisURL)
		h := scenario.History(scenario.Config{Orders: 24, Products: 4, Customers: 3, Seed: 3})
		e.publish(h...)
		_, url, _ := e.start()
		e.waitFor(token(h))

		owner, other := e.issue(scenario.Customer(0), httpapi.RoleCustomer), e.issue(scenario.Customer(1), httpapi.RoleCustomer)
		admin := e.issue("ops", httpapi.RoleAdmin)

		var pl productList
		if r := get(t, url+"/api/products?limit=3", "", "", &pl); r.StatusCode != 200 || len(pl.Items) != 3 || pl.NextCursor == nil {
			t.Fatalf("products: %d %+v", r.StatusCode, pl)
		}
		var pl2 productList
		if r := get(t, url+"/api/products?limit=3&cursor="+*pl.NextCursor, "", "", &pl2); r.StatusCode != 200 || len(pl2.Items) != 1 || pl2.NextCursor != nil {
			t.Fatalf("products page 2: %d %+v", r.StatusCode, pl2)
		}
		var p model.Product
		if r := get(t, url+"/api/products/"+scenario.SKU(1), "", "", &p); r.StatusCode != 200 || p.Name == "" {
			t.Fatalf("product: %d %+v", r.StatusCode, p)
		}

		orderURL := url + "/api/orders/" + scenario.OrderID(0)
		var o model.Order
		if r := get(t, orderURL, owner, "", &o); r.StatusCode != 200 || o.Status != model.StatusConfirmed || len(o.Timeline) != 6 {
			t.Fatalf("own order: %d %+v", r.StatusCode, o)
		}
		for _, c := range []struct {
			name, url, bearer, consistency string
			want                           int
		}{
			{"order without token", orderURL, "", "", 401},
			{"someone else's order", orderURL, other, "", 403},
			{"order as admin", orderURL, admin, "", 200},
			{"unknown order", url + "/api/orders/nope", admin, "", 404},
			{"own orders", url + "/api/customers/" + scenario.Customer(0) + "/orders", owner, "", 200},
			{"someone else's orders", url + "/api/customers/" + scenario.Customer(0) + "/orders", other, "", 403},
			{"own wallet", url + "/api/customers/" + scenario.Customer(0) + "/wallet", owner, "", 200},
			{"someone else's wallet", url + "/api/customers/" + scenario.Customer(0) + "/wallet", other, "", 403},
			{"wallet as admin", url + "/api/customers/" + scenario.Customer(0) + "/wallet", admin, "", 200},
			{"stats as admin", url + "/api/stats/sales", admin, "", 200},
			{"stats as customer", url + "/api/stats/sales", owner, "", 403},
			{"stats anonymous", url + "/api/stats/sales", "", "", 401},
			{"negative limit", url + "/api/products?limit=-1", "", "", 422},
			{"limit over 100", url + "/api/products?limit=101", "", "", 422},
			{"limit not a number", url + "/api/products?limit=ten", "", "", 400},
			{"forged cursor", url + "/api/products?cursor=%21%21", "", "", 400},
			{"forged order cursor", url + "/api/customers/" + scenario.Customer(0) + "/orders?cursor=Zm9v", owner, "", 400},
			{"forged wallet cursor", url + "/api/customers/" + scenario.Customer(0) + "/wallet?cursor=Zm9v", owner, "", 400},
			{"unknown status", url + "/api/customers/" + scenario.Customer(0) + "/orders?status=LOST", owner, "", 422},
			{"orders limit 0", url + "/api/customers/" + scenario.Customer(0) + "/orders?limit=0", owner, "", 422},
			{"token of an unprojected stream", url + "/api/products", "", "troupe.checkpoint-x@1", 400},
			{"malformed token", url + "/api/products", "", "catalog.product-SKU-000", 400},
			{"reached token", orderURL, owner, token(h), 200},
		} {
			if r := get(t, c.url, c.bearer, c.consistency, nil); r.StatusCode != c.want {
				t.Errorf("%s: %d, want %d", c.name, r.StatusCode, c.want)
			} else if c.want >= 400 && r.Header.Get("Content-Type") != httpapi.ContentTypeProblem {
				t.Errorf("%s: content type %q", c.name, r.Header.Get("Content-Type"))
			}
		}

		var ol orderList
		if r := get(t, url+"/api/customers/"+scenario.Customer(1)+"/orders?status=CONFIRMED&limit=100", admin, "", &ol); r.StatusCode != 200 || len(ol.Items) != 8 {
			t.Fatalf("confirmed orders of customer 1: %d %d", r.StatusCode, len(ol.Items)) // orders 1, 4, ..., 22
		}
		var w model.Wallet
		if r := get(t, url+"/api/customers/"+scenario.Customer(0)+"/wallet?limit=5", owner, "", &w); r.StatusCode != 200 || len(w.Transactions) != 5 || w.NextCursor == nil {
			t.Fatalf("wallet: %d %+v", r.StatusCode, w)
		}
		var st model.Stats
		if r := get(t, url+"/api/stats/sales", admin, "", &st); r.StatusCode != 200 || st.OrdersConfirmed != 16 || st.OrdersCancelled != 8 {
			t.Fatalf("stats: %d %+v", r.StatusCode, st)
		}

		// Not yet applied: 503 with Retry-After once the wait is over.
		start := time.Now()
		r := get(t, orderURL, owner, "ordering.order-"+scenario.OrderID(0)+"@99", nil)
		if r.StatusCode != 503 || r.Header.Get("Retry-After") == "" || time.Since(start) < 2*time.Second {
			t.Fatalf("unreached token: %d, Retry-After %q after %v", r.StatusCode, r.Header.Get("Retry-After"), time.Since(start))
		}

		// The start rebuilt the model, so nothing above needed the live
		// subscriber; its consumer group may still be settling (one member
		// per topic, each join a rebalance the others notice at their next
		// heartbeat, seconds later). Read-your-writes is about a feeding
		// subscriber: wait until it has applied an event of each topic.
		now := time.Now().UTC()
		warm := []scenario.Msg{
			{Event: events.StockReceived{SKU: scenario.SKU(1), Quantity: 1}, Stream: "catalog.product-" + scenario.SKU(1),
				Revision: 5, OccurredAt: now},
			{Event: events.OrderCancelled{OrderID: "0c9e3a1b-2d4f-4a6b-8c0d-1e2f3a4b5c6d", CustomerID: scenario.Customer(1),
				Reason: events.ReasonCustomerRequested}, Stream: "ordering.order-0c9e3a1b-2d4f-4a6b-8c0d-1e2f3a4b5c6d",
				Revision: 0, OccurredAt: now},
			{Event: events.FundsDeposited{CustomerID: scenario.Customer(2), AmountCents: 1, BalanceCents: 1},
				Stream: "payments.wallet-" + scenario.Customer(2), Revision: 1000, OccurredAt: now},
		}
		e.publish(warm...)
		e.waitFor(token(warm))

		// Read-your-writes: a new order, queried at once with its token.
		placed := scenario.Msg{Event: events.OrderPlaced{OrderID: "6e3b0b7a-1d2c-4f5e-8a9b-0c1d2e3f4a5b", CustomerID: scenario.Customer(0),
			Lines: []events.PricedLine{{SKU: scenario.SKU(0), Quantity: 1, UnitPriceCents: 100}}, TotalCents: 100, Currency: "EUR",
			PaymentMethod: events.PaymentMethodCard, PlacedAt: time.Now().UTC()}, Stream: "ordering.order-6e3b0b7a-1d2c-4f5e-8a9b-0c1d2e3f4a5b", Revision: 0, OccurredAt: time.Now().UTC()}
		e.publish(placed)
		if r := get(t, url+"/api/orders/6e3b0b7a-1d2c-4f5e-8a9b-0c1d2e3f4a5b", owner, "ordering.order-6e3b0b7a-1d2c-4f5e-8a9b-0c1d2e3f4a5b@0", &o); r.StatusCode != 200 || o.Status != model.StatusPending || o.Payment.Method != "card" {
			t.Fatalf("read-your-writes: %d %+v", r.StatusCode, o)
		}

		// Redelivery of the whole history changes nothing.
		all := append(append(append([]scenario.Msg{}, h...), warm...), placed)
		e.publish(h...)
		marker := scenario.Msg{Event: events.StockReceived{SKU: scenario.SKU(0), Quantity: 5}, Stream: "catalog.product-" + scenario.SKU(0),
			Revision: 10, OccurredAt: time.Now().UTC()}
		e.publish(marker)
		all = append(all, marker)
		want := e.reference(all)
		e.waitFor("catalog.product-" + scenario.SKU(0) + "@10")
		// The marker is on the catalog topic; wait until the other topics'
		// duplicates were consumed too (the group's lag reaches zero).
		waitNoLag(t, e)
		if got := e.liveChecksum(); got != want {
			t.Fatal("redelivered history changed the model")
		}
	})
}

func waitNoLag(t *testing.T, e *env) {
	t.Helper()
	svc, err := service.New(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		l, err := svc.Lag(context.Background())
		if err == nil && l.Behind == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("lag did not reach zero: %+v, %v", l, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRebuildWhileLive: a blue-green rebuild while events keep flowing and
// queries keep coming: no query fails or sees a partial model, the old
// generation's keys are gone, and the result equals a model built directly
// from the same history.
func TestRebuildWhileLive(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, brokers []string, redisURL string) {
		e := newEnv(t, brokers, redisURL)
		h := scenario.History(scenario.Config{Orders: 300, Products: 6, Customers: 5, Seed: 4})
		first, rest := h[:len(h)/2], h[len(h)/2:]
		e.publish(first...)
		svc, url, _ := e.start()
		e.waitFor(token(first))
		ns := svc.Model().Namespace()
		oldGen, _ := ns.Live(context.Background(), e.rdb)

		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { // live load
			defer wg.Done()
			for i := 0; i < len(rest); i += 40 {
				e.publish(rest[i:min(i+40, len(rest))]...)
				time.Sleep(5 * time.Millisecond)
			}
		}()
		var queries, bad atomic.Int64
		owner := e.issue(scenario.Customer(0), httpapi.RoleCustomer)
		go func() { // readers of what existed before the rebuild
			defer wg.Done()
			for ctx.Err() == nil {
				var o model.Order
				r := get(t, url+"/api/orders/"+scenario.OrderID(0), owner, "", &o)
				var st model.Stats
				r2 := get(t, url+"/api/stats/sales", e.issue("ops", httpapi.RoleAdmin), "", &st)
				queries.Add(1)
				if r.StatusCode != http.StatusOK || o.Status != model.StatusConfirmed || r2.StatusCode != http.StatusOK || st.OrdersConfirmed == 0 {
					bad.Add(1)
				}
			}
		}()
		var last int64
		err := svc.Rebuild(context.Background(), func(done, total int64) { last = done })
		cancel()
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		if bad.Load() != 0 || queries.Load() == 0 {
			t.Fatalf("%d of %d queries failed or saw a partial model during the rebuild", bad.Load(), queries.Load())
		}
		if last == 0 {
			t.Error("no progress reported")
		}
		newGen, _ := ns.Live(context.Background(), e.rdb)
		if newGen == oldGen {
			t.Fatal("the alias did not switch")
		}
		if n, _ := e.rdb.Keys(context.Background(), ns.Prefix(oldGen)+"*").Result(); len(n) != 0 {
			t.Fatalf("%d keys of the old generation remain", len(n))
		}
		e.waitFor(token(h))
		waitNoLag(t, e)
		if got, want := e.liveChecksum(), e.reference(h); got != want {
			t.Fatal("rebuilt model differs from the model of the same history")
		}
	})
}

// TestRestartWithEmptyRedis: the model's keys vanish while the service is
// down; the next start rebuilds everything from the oldest offsets, even
// though the consumer group had committed its way to the end.
func TestRestartWithEmptyRedis(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, brokers []string, redisURL string) {
		e := newEnv(t, brokers, redisURL)
		h := scenario.History(scenario.Config{Orders: 60, Products: 5, Customers: 4, Seed: 5})
		e.publish(h...)
		_, _, stop := e.start()
		e.waitFor(token(h))
		waitNoLag(t, e)
		want := e.liveChecksum()
		stop()

		ctx := context.Background()
		keys, err := e.rdb.Keys(ctx, e.cfg.KeyRoot+"*").Result()
		if err != nil || len(keys) == 0 {
			t.Fatalf("keys: %v, %v", len(keys), err)
		}
		if err := e.rdb.Del(ctx, keys...).Err(); err != nil {
			t.Fatal(err)
		}
		svc, _, _ := e.start()
		e.waitFor(token(h))
		if got := e.liveChecksum(); got != want {
			t.Fatal("the model rebuilt after emptying Redis differs from before")
		}
		if err := svc.Ready(ctx); err != nil {
			time.Sleep(500 * time.Millisecond)
			if err := svc.Ready(ctx); err != nil {
				t.Fatalf("not ready after the rebuild: %v", err)
			}
		}
		if _, err := svc.Model().Namespace().Applied(ctx, e.rdb, "ordering.order-"+scenario.OrderID(0)); err != nil {
			t.Fatal(err)
		}
	})
}

// TestEmptiedWhileRunning: the model's keys vanish under a running service
// (FLUSHALL); the live feed waits instead of dead-lettering, queries answer
// 503, and a rebuild restores the same model, then live updates continue.
func TestEmptiedWhileRunning(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, brokers []string, redisURL string) {
		e := newEnv(t, brokers, redisURL)
		h := scenario.History(scenario.Config{Orders: 40, Products: 5, Customers: 4, Seed: 6})
		first, rest := h[:len(h)/2], h[len(h)/2:]
		e.publish(first...)
		svc, url, _ := e.start()
		e.waitFor(token(first))

		ctx := context.Background()
		keys, _ := e.rdb.Keys(ctx, e.cfg.KeyRoot+"*").Result()
		if err := e.rdb.Del(ctx, keys...).Err(); err != nil {
			t.Fatal(err)
		}
		e.publish(rest...) // delivered while there is no model
		if r := get(t, url+"/api/products", "", "", nil); r.StatusCode != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
			t.Fatalf("query without a model: %d", r.StatusCode)
		}
		if err := svc.Rebuild(ctx, nil); err != nil {
			t.Fatal(err)
		}
		e.waitFor(token(h))
		waitNoLag(t, e)
		if got, want := e.liveChecksum(), e.reference(h); got != want {
			t.Fatal("model after emptying and rebuilding differs from the model of the history")
		}
		dl, err := svc.DeadLetters(ctx)
		if err != nil || len(dl) != 0 {
			t.Fatalf("dead letters: %v, %v", dl, err)
		}
	})
}

// TestLag: once caught up, the model is 0 records behind and its newest
// applied time is the history's newest occurred-at; records published
// while it is stopped count as behind, duplicates included.
func TestLag(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, brokers []string, redisURL string) {
		e := newEnv(t, brokers, redisURL)
		h := scenario.History(scenario.Config{Orders: 20, Products: 3, Customers: 2, Seed: 5})
		e.publish(h...)
		svc, _, stop := e.start()
		e.waitFor(token(h))
		waitNoLag(t, e)
		var newest time.Time
		for _, m := range h {
			if m.OccurredAt.After(newest) {
				newest = m.OccurredAt
			}
		}
		ctx := context.Background()
		l, err := svc.Lag(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if l.Behind != 0 || !l.NewestApplied.Equal(newest.Truncate(time.Millisecond)) || l.Age <= 0 {
			t.Fatalf("caught-up lag %+v, want 0 behind and newest %v", l, newest)
		}
		stop()
		e.publish(h[:10]...)
		if l, err = svc.Lag(ctx); err != nil || l.Behind != 10 {
			t.Fatalf("lag after 10 records while stopped: %+v, %v", l, err)
		}
	})
}
