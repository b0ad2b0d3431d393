package main

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/troupe-dev/troupe/cmd/troupe/invariant"
	paymentsadapters "github.com/troupe-dev/troupe/contexts/payments/adapters"
	"github.com/troupe-dev/troupe/contexts/payments/domain/wallet"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
	"github.com/troupe-dev/troupe/shared/platform/testinfra"
)

// loadJSON runs `troupe load --output json` with args against p and
// returns the summary and the exit code.
func loadJSON(t *testing.T, p *platform, args ...string) (loadSummary, string, int) {
	t.Helper()
	return loadJSONWith(t, troupeBinary(t), 5*time.Minute, p, args...)
}

func loadJSONWith(t *testing.T, bin string, timeout time.Duration, p *platform, args ...string) (loadSummary, string, int) {
	t.Helper()
	stdout, stderr, code := runCLIWith(t, bin, timeout, p, append([]string{"load", "--output", "json"}, args...)...)
	var s loadSummary
	if err := json.Unmarshal([]byte(stdout), &s); err != nil {
		t.Fatalf("load: exit %d, stdout not a summary (%v):\n%s\nstderr:\n%s\nplatform:\n%s", code, err, stdout, stderr, p.Output())
	}
	return s, stderr, code
}

var (
	plainOnce sync.Once
	plainPath string
	plainErr  error
)

// plainBinary builds troupe without the race detector, once, beside the
// race-built binary (and removed with it). The detector slows the platform
// several times over, which 1,000 orders on two shared cores cannot afford
// within a test's time; the race-built binary runs the smaller loads.
func plainBinary(t testing.TB) string {
	t.Helper()
	dir := filepath.Dir(troupeBinary(t))
	plainOnce.Do(func() {
		plainPath = filepath.Join(dir, "troupe-norace")
		if out, err := exec.Command("go", "build", "-o", plainPath, ".").CombinedOutput(); err != nil {
			plainErr = errors.New("go build: " + err.Error() + "\n" + string(out))
		}
	})
	if plainErr != nil {
		t.Fatal(plainErr)
	}
	return plainPath
}

// TestLoad1000Orders is the acceptance run: 1,000 orders through a
// `troupe up` subprocess, every one confirmed, and the invariant check over
// the event store passing. It runs the binary built without the race
// detector (see plainBinary).
func TestLoad1000Orders(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 orders: not in -short")
	}
	bin := plainBinary(t)
	p := startPlatformWith(t, bin, "")
	s, stderr, code := loadJSONWith(t, bin, 10*time.Minute, p, "--orders", "1000", "--concurrency", "8", "--seed", "1")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q, summary %+v", code, stderr, s)
	}
	if s.Placed != 1000 || s.Ended != 1000 || s.Confirmed != 1000 || s.Cancelled != 0 ||
		s.Expected.Confirmed != 1000 || s.Expected.UnexpectedOutcomes != 0 {
		t.Fatalf("counts: %+v", s)
	}
	if !s.Invariants.OK || s.Invariants.Orders < 1000 || s.Invariants.Confirmed < 1000 || len(s.Invariants.Violations) != 0 {
		t.Fatalf("invariants: %+v", s.Invariants)
	}
	if s.OrdersPerS <= 0 || s.Latency.EventTimes.N != 1000 || s.Latency.Seen.P99 < s.Latency.Seen.P50 {
		t.Fatalf("figures: %.1f orders/s, latencies %+v", s.OrdersPerS, s.Latency)
	}
	t.Logf("1,000 orders: %.1f orders/s, placed->terminal p50 %.0f ms p99 %.0f ms",
		s.OrdersPerS, s.Latency.EventTimes.P50, s.Latency.EventTimes.P99)
}

// TestLoadFailRate: with --fail-rate 0.2 a fifth of the orders fails as
// designed (half without funds, half without stock), every other order is
// confirmed, and the invariants hold after the compensations; a second run
// on the same platform does not meet the first (its own products and
// wallets) and checks both runs' history. On the embedded servers, and on
// the real Kafka and Redis when make test names them.
func TestLoadFailRate(t *testing.T) {
	t.Run("embedded", func(t *testing.T) {
		loadWithFailures(t, startPlatform(t, ""))
	})
	t.Run("real_kafka_redis", func(t *testing.T) {
		brokers, redisURL := testinfra.RealKafka(), testinfra.RealRedis()
		if len(brokers) == 0 || redisURL == "" {
			t.Skipf("%s and %s are not both set", testinfra.EnvKafkaBrokers, testinfra.EnvRedisURL)
		}
		loadWithFailures(t, startPlatform(t, "", "--kafka-brokers", strings.Join(brokers, ","), "--redis-url", redisURL))
	})
}

func loadWithFailures(t *testing.T, p *platform) {
	s, stderr, code := loadJSON(t, p, "--orders", "200", "--fail-rate", "0.2", "--concurrency", "6")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q, summary %+v", code, stderr, s)
	}
	e := s.Expected
	if e.FailNoFunds != 20 || e.FailNoStock != 20 || e.Confirm != 160 {
		t.Fatalf("plan: %+v", e)
	}
	if e.FailedNoFunds != 20 || e.FailedNoStock != 20 || e.Confirmed != 160 || e.UnexpectedOutcomes != 0 {
		t.Fatalf("outcomes: %+v, unexpected %v", e, s.Unexpected)
	}
	if s.Confirmed != 160 || s.Cancelled != 40 || s.Reasons["payment_failed"] != 20 || s.Reasons["out_of_stock"] != 20 {
		t.Fatalf("counts: %+v", s)
	}
	if !s.Invariants.OK || s.Invariants.Orders != 200 {
		t.Fatalf("invariants: %+v", s.Invariants)
	}

	again, stderr, code := loadJSON(t, p, "--orders", "20", "--fail-rate", "0.5")
	if code != 0 || again.Run == s.Run || again.Expected.UnexpectedOutcomes != 0 || again.Invariants.Orders != 220 {
		t.Fatalf("second run: exit %d, stderr %q, %+v", code, stderr, again)
	}
}

// TestLoadTextSummary: the text output names every figure, the HTTP floor
// measured as the baseline, and the invariant verdict.
func TestLoadTextSummary(t *testing.T) {
	p := startPlatform(t, "")
	stdout, stderr, code := runCLI(t, p, "load", "--orders", "10", "--fail-rate", "0.2", "--http-floor", "1s")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	for _, want := range []string{"10 placed, 10 ended: 8 confirmed, 2 cancelled", "orders/s", "p99",
		"placed -> terminal", "unexpected  0", "http floor", "requests per order", "invariants: ok"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout)
		}
	}
}

// TestLoadFailsOnViolation: a history that breaks an invariant (a deposit
// whose balance does not add up, written straight into the event store)
// makes the load exit 1 and name the violation.
func TestLoadFailsOnViolation(t *testing.T) {
	p := startPlatform(t, "")
	es, err := eventstore.Dial(p.EP.EventStore, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer es.Close()
	customer := "broken-" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	typ, data, err := paymentsadapters.Events().Encode(wallet.FundsDeposited{
		CustomerID: customer, DepositID: uuid.NewString(), AmountCents: 100, BalanceCents: 999})
	if err != nil {
		t.Fatal(err)
	}
	id := uuid.NewString()
	meta, _ := json.Marshal(eventstore.Metadata{CorrelationID: id, CausationID: id, OccurredAt: time.Now().UTC(),
		Traceparent: "00-0123456789abcdef0123456789abcdef-0123456789abcdef-01"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := es.AppendToStream(ctx, "payments.wallet-"+customer, esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}},
		esdb.EventData{EventID: uuid.New(), EventType: typ, ContentType: esdb.ContentTypeJson, Data: data, Metadata: meta}); err != nil {
		t.Fatal(err)
	}

	stdout, stderr, code := runCLI(t, p, "load", "--orders", "5", "--timeout", "5s")
	if code != 1 || !strings.Contains(stdout, "invariants: FAILED") || !strings.Contains(stdout, invariant.WalletMismatch+" "+customer) ||
		!strings.Contains(stderr, "invariant violations") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

// TestLoadBadUsage: flag values that cannot make a run exit 2 with a
// one-line reason naming the flag, before any platform is needed.
func TestLoadBadUsage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ args, want string }{
		{"--orders 0", "--orders"},
		{"--orders many", "--orders"},
		{"--concurrency 0", "--concurrency"},
		{"--fail-rate 1.5", "--fail-rate"},
		{"--fail-rate -0.1", "--fail-rate"},
		{"--timeout 0s", "--timeout"},
		{"--retry-for -1s", "--retry-for"},
		{"--http-floor -1s", "--http-floor"},
		{"--output yaml", "--output"},
		{"--bogus", "--bogus"},
		{"extra-arg", "no arguments"},
	} {
		t.Run(tc.args, func(t *testing.T) {
			t.Parallel()
			_, stderr, code := runCLI(t, nil, append([]string{"load", "--data-dir", t.TempDir()}, strings.Fields(tc.args)...)...)
			if code != 2 || !strings.Contains(stderr, tc.want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
		})
	}
}

// TestLoadWithoutPlatform: no endpoints.json and no URL is exit 1 saying
// how to start the platform.
func TestLoadWithoutPlatform(t *testing.T) {
	t.Parallel()
	_, stderr, code := runCLI(t, nil, "load", "--data-dir", t.TempDir())
	if code != 1 || !strings.Contains(stderr, "no running platform") || !strings.Contains(stderr, "troupe up") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

// TestLoadPlan: a seed gives one plan; it designs exactly round(rate*n)
// failures, receives stock for every unit an order may hold, and deposits
// what every solvent customer's wallet orders cost.
func TestLoadPlan(t *testing.T) {
	t.Parallel()
	a, b := newLoadPlan("RUN1", 500, 0.3, 42), newLoadPlan("RUN1", 500, 0.3, 42)
	if len(a.orders) != 500 || len(a.orders) != len(b.orders) {
		t.Fatalf("orders: %d and %d", len(a.orders), len(b.orders))
	}
	for i := range a.orders {
		if a.orders[i].customer != b.orders[i].customer || a.orders[i].kind != b.orders[i].kind ||
			a.orders[i].method != b.orders[i].method || !slices.Equal(a.orders[i].lines, b.orders[i].lines) {
			t.Fatalf("order %d differs for one seed: %+v vs %+v", i, a.orders[i], b.orders[i])
		}
	}
	noFunds, noStock := a.expectedFailures()
	if noFunds != 75 || noStock != 75 {
		t.Fatalf("failures: %d no funds, %d no stock; want 75 and 75", noFunds, noStock)
	}
	price, stock := map[string]int64{}, map[string]int64{}
	for _, p := range a.products {
		price[p.sku], stock[p.sku] = p.priceCents, p.stock
	}
	deposited := map[string]int64{}
	for _, d := range a.deposits {
		if d.cents < 1 || d.cents > maxDepositCents {
			t.Fatalf("deposit %+v out of the API's range", d)
		}
		deposited[d.customer] += d.cents
	}
	held, owed := map[string]int64{}, map[string]int64{}
	methods := map[string]int{}
	for _, o := range a.orders {
		methods[o.method]++
		var total int64
		for _, l := range o.lines {
			total += price[l.SKU] * int64(l.Quantity)
		}
		switch o.kind {
		case kindNoStock:
			if len(o.lines) != 1 || int64(o.lines[0].Quantity) <= stock[o.lines[0].SKU] {
				t.Fatalf("no-stock order %+v can be served (stock %d)", o, stock[o.lines[0].SKU])
			}
		case kindNoFunds:
			if o.method != "wallet" || deposited[o.customer] >= total {
				t.Fatalf("no-funds order %+v costs %d, its wallet holds %d", o, total, deposited[o.customer])
			}
		}
		if o.kind != kindNoStock {
			for _, l := range o.lines {
				held[l.SKU] += int64(l.Quantity)
			}
		}
		if o.kind == kindOK && o.method == "wallet" {
			owed[o.customer] += total
		}
	}
	for sku, q := range held {
		if stock[sku] < q {
			t.Fatalf("%s: stock %d for %d units ordered", sku, stock[sku], q)
		}
	}
	for c, due := range owed {
		if deposited[c] < due {
			t.Fatalf("%s: deposited %d for %d of wallet orders", c, deposited[c], due)
		}
	}
	if methods["card"] == 0 || methods["wallet"] == 0 {
		t.Fatalf("payment methods: %v", methods)
	}
}
