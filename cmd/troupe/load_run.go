package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"golang.org/x/sync/errgroup"

	"github.com/troupe-dev/troupe/cmd/troupe/invariant"
	"github.com/troupe-dev/troupe/shared/platform/httpapi"
)

// loader runs one load: it seeds, places and follows the orders of a plan.
type loader struct {
	cfg    loadConfig
	plan   loadPlan
	api    *loadClient
	admin  string
	tokens map[string]string // customer -> token; read-only once built

	placed, ended atomic.Int64
}

// orderResult is what one planned order became.
type orderResult struct {
	kind     orderKind
	orderID  string
	placeErr error
	// status and reason as GET /api/orders/{id} last showed them.
	status, reason string
	terminal       bool
	// place is the POST /api/orders round trip (its retries included);
	// server is placedAt to the terminal event's time in the order's
	// timeline; seen is from the POST's answer to the GET that first showed
	// the terminal status.
	place, server, seen time.Duration
}

// seed lists the plan's products, receives their stock and makes the
// deposits, concurrency requests at a time.
func (l *loader) seed(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(l.cfg.concurrency)
	for _, p := range l.plan.products {
		g.Go(func() error {
			r, err := l.api.do(gctx, call{method: http.MethodPost, path: "/api/catalog/products", token: l.admin,
				body: map[string]any{"sku": p.sku, "name": "Load product " + p.sku, "priceCents": p.priceCents}})
			if err != nil {
				return fmt.Errorf("list product %s: %w", p.sku, err)
			}
			// 409: an earlier attempt of this very call got through.
			if r.status != http.StatusCreated && r.status != http.StatusConflict {
				return fmt.Errorf("list product %s: %s", p.sku, problemDetail(r))
			}
			for left := p.stock; left > 0; left -= maxStockReceipt {
				q := min(left, maxStockReceipt)
				r, err := l.api.do(gctx, call{method: http.MethodPost, path: "/api/catalog/products/" + p.sku + "/stock",
					token: l.admin, body: map[string]any{"quantity": q}})
				if err != nil {
					return fmt.Errorf("receive stock of %s: %w", p.sku, err)
				}
				if r.status != http.StatusAccepted {
					return fmt.Errorf("receive stock of %s: %s", p.sku, problemDetail(r))
				}
			}
			return nil
		})
	}
	for i, d := range l.plan.deposits {
		g.Go(func() error {
			r, err := l.api.do(gctx, call{method: http.MethodPost, path: "/api/customers/" + d.customer + "/wallet/deposits",
				token: l.tokens[d.customer], body: map[string]any{"amountCents": d.cents},
				header: map[string]string{"Idempotency-Key": fmt.Sprintf("%s-d%d", l.plan.run, i)}})
			if err != nil {
				return fmt.Errorf("deposit for %s: %w", d.customer, err)
			}
			if r.status != http.StatusAccepted {
				return fmt.Errorf("deposit for %s: %s", d.customer, problemDetail(r))
			}
			return nil
		})
	}
	return g.Wait()
}

// unknownSKU reports a 422 for a SKU that ordering's price book has not
// learnt yet: it learns from catalog's events, asynchronously.
func unknownSKU(r apiResponse) bool {
	return r.status == http.StatusUnprocessableEntity && strings.Contains(string(r.body), "unknown SKU")
}

// placeAll runs the orders, each of concurrency workers placing an order
// and following it to its end before it takes the next.
func (l *loader) placeAll(ctx context.Context) []orderResult {
	results := make([]orderResult, len(l.plan.orders))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range l.cfg.concurrency {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(results) || ctx.Err() != nil {
					return
				}
				results[i] = l.runOrder(ctx, i)
			}
		})
	}
	wg.Wait()
	return results
}

// orderView is the part of GET /api/orders/{id} the load reads.
type orderView struct {
	Status   string    `json:"status"`
	Reason   string    `json:"reason"`
	PlacedAt time.Time `json:"placedAt"`
	Timeline []struct {
		Type string    `json:"type"`
		At   time.Time `json:"at"`
	} `json:"timeline"`
}

// terminalStatus reports the statuses an order ends in.
func terminalStatus(s string) bool { return s == "CONFIRMED" || s == "CANCELLED" }

func (l *loader) runOrder(ctx context.Context, i int) orderResult {
	o := l.plan.orders[i]
	res := orderResult{kind: o.kind}
	token := l.tokens[o.customer]
	start := time.Now()
	r, err := l.api.do(ctx, call{method: http.MethodPost, path: "/api/orders", token: token,
		body:      map[string]any{"lines": o.lines, "paymentMethod": o.method},
		header:    map[string]string{"Idempotency-Key": fmt.Sprintf("%s-o%d", l.plan.run, i)},
		retryAlso: unknownSKU})
	res.place = time.Since(start)
	if err == nil && r.status != http.StatusAccepted {
		err = errors.New(problemDetail(r))
	}
	var placed struct {
		OrderID string `json:"orderId"`
	}
	if err == nil {
		if jerr := json.Unmarshal(r.body, &placed); jerr != nil || placed.OrderID == "" {
			err = fmt.Errorf("answer %q without an orderId", r.body)
		}
	}
	if err != nil {
		res.placeErr = fmt.Errorf("place order %d: %w", i, err)
		return res
	}
	l.placed.Add(1)
	accepted := time.Now()
	res.orderID = placed.OrderID

	// The first query carries the placement's consistency token, so it
	// waits for the read model instead of answering 404.
	var hdr map[string]string
	if tok := r.header.Get(httpapi.HeaderConsistency); tok != "" {
		hdr = map[string]string{httpapi.HeaderConsistency: tok}
	}
	pctx, cancel := context.WithDeadline(ctx, accepted.Add(l.cfg.timeout))
	defer cancel()
	wait := 5 * time.Millisecond
	for {
		r, err := l.api.do(pctx, call{method: http.MethodGet, path: "/api/orders/" + res.orderID, token: token, header: hdr})
		if err == nil && r.status == http.StatusOK {
			hdr = nil
			var v orderView
			if json.Unmarshal(r.body, &v) == nil {
				res.status, res.reason = v.Status, v.Reason
				if terminalStatus(v.Status) {
					res.terminal = true
					res.seen = time.Since(accepted)
					res.server = serverLatency(v)
					l.ended.Add(1)
					return res
				}
			}
		}
		select {
		case <-pctx.Done():
			return res
		case <-time.After(wait):
		}
		wait = min(wait*3/2, 100*time.Millisecond)
	}
}

// serverLatency is the order's placedAt to its terminal event's time, both
// taken by the platform (negative: unknown).
func serverLatency(v orderView) time.Duration {
	want := "order_confirmed"
	if v.Status == "CANCELLED" {
		want = "order_cancelled"
	}
	for _, e := range v.Timeline {
		if e.Type == want && !v.PlacedAt.IsZero() {
			return e.At.Sub(v.PlacedAt)
		}
	}
	return -1
}

// progress prints placed and ended counts to w while the orders run: a
// line rewritten in place on a terminal, a line every 10 s otherwise. The
// returned function stops it.
func (l *loader) progress(w io.Writer) (stop func()) {
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	every := 10 * time.Second
	if tty {
		every = 250 * time.Millisecond
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				if tty {
					fmt.Fprint(w, "\r\033[K")
				}
				return
			case <-t.C:
				line := fmt.Sprintf("load: placed %d/%d, ended %d", l.placed.Load(), len(l.plan.orders), l.ended.Load())
				if tty {
					fmt.Fprint(w, "\r\033[K"+line)
				} else {
					fmt.Fprintln(w, line)
				}
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// checkInvariants runs the invariant checker over the whole event store
// until it passes with at least minOrders orders, or until the deadline
// (compensations such as releases and refunds finish after the order's
// terminal status, so the first look may be early). It returns the last
// report.
func checkInvariants(ctx context.Context, es *esdb.Client, minOrders int, deadline time.Time) (invariant.Report, error) {
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		rep, err := invariant.CheckStore(cctx, es)
		cancel()
		if err == nil && rep.OK() && rep.Orders >= minOrders {
			return rep, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			if err != nil {
				return rep, fmt.Errorf("invariant check: %w", err)
			}
			return rep, nil
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}
