package tests

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/troupe-dev/troupe/cmd/troupe/invariant"
	"github.com/troupe-dev/troupe/embedded/psp"
	"github.com/troupe-dev/troupe/shared/events"
)

// TestInvariantsOverRandomOrders runs 1,000 random orders through a stack of
// its own with random failures (scarce stock, poor wallets, card declines,
// customer cancellations, a gateway outage window) and checks every
// invariant of the design over the event store once the sagas settle.
func TestInvariantsOverRandomOrders(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("1,000 orders: not in -short")
	}
	const (
		orders      = 1000
		concurrency = 16
		skus        = 20
		customers   = 60
	)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 42))
	p := ownPlatform(t, nil)
	p.setSim(t, psp.Settings{DeclineRate: 0.1})

	skuIDs := make([]string, skus)
	for i := range skuIDs {
		skuIDs[i] = id(fmt.Sprintf("R%02d", i))
		p.listProduct(t, skuIDs[i], int64(50+rng.IntN(500)), 1+rng.IntN(120))
	}
	custIDs := make([]string, customers)
	for i := range custIDs {
		custIDs[i] = id("c")
		p.deposit(t, custIDs[i], int64(rng.IntN(20_000))+1)
	}

	type plan struct {
		customer, method string
		lines            []orderLine
		cancel           bool
		cancelAfter      time.Duration
	}
	plans := make([]plan, orders)
	for i := range plans {
		n := 1 + rng.IntN(3)
		seen := map[string]bool{}
		var lines []orderLine
		for len(lines) < n {
			s := skuIDs[rng.IntN(skus)]
			if !seen[s] {
				seen[s] = true
				lines = append(lines, orderLine{s, 1 + rng.IntN(3)})
			}
		}
		method := events.PaymentMethodWallet
		if rng.IntN(10) < 4 {
			method = events.PaymentMethodCard
		}
		plans[i] = plan{customer: custIDs[rng.IntN(customers)], method: method, lines: lines,
			cancel: rng.IntN(10) == 0, cancelAfter: time.Duration(rng.IntN(300)) * time.Millisecond}
	}

	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		cancels  atomic.Int64
		outageMu sync.Once
		upMu     sync.Once
	)
	for range concurrency {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= orders {
					return
				}
				// A gateway outage window over a tenth of the run.
				if i == orders*4/10 {
					outageMu.Do(func() { p.setSim(t, psp.Settings{DeclineRate: 0.1, Down: true}) })
				}
				if i == orders*5/10 {
					upMu.Do(func() { p.setSim(t, psp.Settings{DeclineRate: 0.1}) })
				}
				pl := plans[i]
				o := p.place(t, pl.customer, pl.method, pl.lines...)
				if pl.cancel {
					cancels.Add(1)
					time.Sleep(pl.cancelAfter)
					p.cancel(t, pl.customer, o)
				}
			}
		})
	}
	wg.Wait()
	p.setSim(t, psp.Settings{})

	var rep invariant.Report
	deadline := time.Now().Add(3 * time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		r, err := invariant.CheckStore(ctx, p.st.EventStore())
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		rep = r
		// A card refund that met the gateway outage for longer than the
		// subscriber's retry budget is finished by payments' recovery once
		// the gateway is back, so every violation must clear on its own.
		if rep.OK() && rep.Orders == orders {
			break
		}
		if time.Now().After(deadline) {
			for _, v := range rep.Violations {
				t.Logf("history of %s:\n%s", v.Subject, p.rawHistory(t, v.Subject))
			}
			t.Fatalf("after settling: %s", rep)
		}
		time.Sleep(time.Second)
	}
	t.Logf("invariants hold: %s; %d customer cancels attempted", rep, cancels.Load())
	if rep.Confirmed == 0 || rep.Cancelled == 0 {
		t.Fatalf("a run without both outcomes proves little: %s", rep)
	}
}
