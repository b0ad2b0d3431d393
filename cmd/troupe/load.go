package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/troupe-dev/troupe/cmd/troupe/invariant"
	"github.com/troupe-dev/troupe/shared/platform/httpapi"
)

// loadConfig is what the flags of `troupe load` set.
type loadConfig struct {
	orders, concurrency int
	failRate            float64
	seed                uint64
	timeout, retryFor   time.Duration
	httpFloor           time.Duration
	output              string
	target              target
}

// Validate rejects flag values that cannot make a run (bad usage, exit 2).
func (c loadConfig) Validate() error {
	switch {
	case c.orders < 1 || c.orders > 1_000_000:
		return usageError{fmt.Errorf("--orders %d: want 1..1000000", c.orders)}
	case c.concurrency < 1 || c.concurrency > 1000:
		return usageError{fmt.Errorf("--concurrency %d: want 1..1000", c.concurrency)}
	case !(c.failRate >= 0 && c.failRate <= 1):
		return usageError{fmt.Errorf("--fail-rate %v: want a fraction 0..1", c.failRate)}
	case c.timeout <= 0:
		return usageError{fmt.Errorf("--timeout %v: want a positive duration such as 2m", c.timeout)}
	case c.retryFor <= 0:
		return usageError{fmt.Errorf("--retry-for %v: want a positive duration such as 1m", c.retryFor)}
	case c.httpFloor < 0:
		return usageError{fmt.Errorf("--http-floor %v: want 0 (off) or a duration such as 5s", c.httpFloor)}
	}
	return checkOutput(c.output)
}

func newLoadCmd() *cobra.Command {
	var cfg loadConfig
	cmd := &cobra.Command{
		Use:   "load",
		Short: "Place orders through the API, measure them, then check the invariants",
		Long: `Seeds its own products and wallets (names prefixed with a new run id, so runs on
one platform do not meet), places --orders orders through the HTTP API with
--concurrency workers, each following its order until GET /api/orders/{id}
shows it CONFIRMED or CANCELLED before placing the next, and prints the
outcome, the throughput and p50/p95/p99 latencies. Then it checks the design's
invariants over the whole event store (waiting up to --timeout for the sagas to
settle) and exits 1 if any fails, if an order could not be placed or did not end
within --timeout.

Orders pay by wallet or, three in ten, by card (the platform's gateway). A
fraction --fail-rate of them is designed to fail, alternately: a wallet order of
a customer whose wallet holds 1 cent (cancelled, reason payment_failed), and an
order for more units than a product's whole stock (cancelled, reason
out_of_stock). Every other order has the stock and the funds to be confirmed; an
order ending otherwise is reported as unexpected.

Transient failures (connection refused, 429, 500, 502, 503, 504) are retried with
backoff for up to --retry-for per request; orders and deposits carry an
Idempotency-Key, so a retry never places or deposits twice.`,
		Example: "  troupe load --orders 1000 --concurrency 8 --fail-rate 0.2\n" +
			"  troupe load --http-addr 127.0.0.1:8080 --eventstore-url esdb://127.0.0.1:2113?tls=false --jwt-secret $SECRET",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cfg.Validate(); err != nil {
				return err
			}
			return runLoad(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), cfg)
		},
	}
	fs := cmd.Flags()
	fs.IntVar(&cfg.orders, "orders", 100, "orders to place")
	fs.IntVar(&cfg.concurrency, "concurrency", 8, "workers, each with one order in flight")
	fs.Float64Var(&cfg.failRate, "fail-rate", 0, "fraction (0..1) of orders designed to fail: half for lack of wallet funds, half for lack of stock")
	fs.Uint64Var(&cfg.seed, "seed", 0, "seed of the order mix, for a reproducible run (0: from the clock, printed in the summary)")
	fs.DurationVar(&cfg.timeout, "timeout", 2*time.Minute, "how long an order may take to end, and the sagas to settle before the invariant check gives up")
	fs.DurationVar(&cfg.retryFor, "retry-for", time.Minute, "how long one request is retried through transient failures")
	fs.DurationVar(&cfg.httpFloor, "http-floor", 0, "first measure the HTTP floor for this long: GET /healthz back to back from --concurrency workers of the same client (the baseline of the figures; 0: skip)")
	outputFlag(fs, &cfg.output)
	addTargetFlags(fs, &cfg.target)
	return cmd
}

// loadSummary is the outcome of a run, printed as text or JSON.
type loadSummary struct {
	Run         string  `json:"run"`
	Seed        uint64  `json:"seed"`
	Orders      int     `json:"orders"`
	Concurrency int     `json:"concurrency"`
	FailRate    float64 `json:"failRate"`

	SeedSeconds float64 `json:"seedSeconds"`
	Products    int     `json:"products"`
	Deposits    int     `json:"deposits"`

	Placed      int            `json:"placed"`
	NotPlaced   int            `json:"notPlaced"`
	Ended       int            `json:"ended"`
	NotEnded    int            `json:"notEnded"`
	Confirmed   int            `json:"confirmed"`
	Cancelled   int            `json:"cancelled"`
	Reasons     map[string]int `json:"cancelReasons"`
	Errors      []string       `json:"errors,omitempty"`
	Terminal    string         `json:"terminal"`
	Expected    expectedCounts `json:"expected"`
	Unexpected  map[string]int `json:"unexpected"`
	Seconds     float64        `json:"seconds"`
	OrdersPerS  float64        `json:"ordersPerSecond"`
	Requests    int64          `json:"requests"`
	Floor       *httpFloor     `json:"httpFloor,omitempty"`
	Latency     loadLatencies  `json:"latencyMs"`
	Invariants  invariantsOut  `json:"invariants"`
	CheckSecond float64        `json:"checkSeconds"`
}

// httpFloor is the baseline: the same client's GET /healthz rate.
type httpFloor struct {
	Seconds           float64     `json:"seconds"`
	RequestsPerSecond float64     `json:"requestsPerSecond"`
	Latency           percentiles `json:"latencyMs"`
	// RequestsPerOrder is how many requests the load sent per order
	// (placing, following, retries); FloorOrdersPerSecond the orders/s the
	// floor alone would allow at that count, and Ratio the run's share of it.
	RequestsPerOrder     float64 `json:"requestsPerOrder"`
	FloorOrdersPerSecond float64 `json:"floorOrdersPerSecond"`
	Ratio                float64 `json:"ratio"`
}

// expectedCounts says what the plan designed and how much of it happened.
type expectedCounts struct {
	Confirm            int `json:"confirm"`
	Confirmed          int `json:"confirmed"`
	FailNoFunds        int `json:"failNoFunds"`
	FailedNoFunds      int `json:"failedNoFunds"`
	FailNoStock        int `json:"failNoStock"`
	FailedNoStock      int `json:"failedNoStock"`
	UnexpectedOutcomes int `json:"unexpectedOutcomes"`
}

// loadLatencies are the three latencies of a run.
type loadLatencies struct {
	Place      percentiles `json:"place"`
	EventTimes percentiles `json:"placedToTerminal"`
	Seen       percentiles `json:"placedToTerminalSeen"`
}

// percentiles of a latency, in milliseconds.
type percentiles struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
	N   int     `json:"n"`
}

// invariantsOut is the invariant check's report.
type invariantsOut struct {
	OK         bool                  `json:"ok"`
	Orders     int                   `json:"orders"`
	Confirmed  int                   `json:"confirmed"`
	Cancelled  int                   `json:"cancelled"`
	SKUs       int                   `json:"skus"`
	Wallets    int                   `json:"wallets"`
	Violations []invariant.Violation `json:"violations"`
	Error      string                `json:"error,omitempty"`
}

// terminalDefinition says in the output what "ended" means.
const terminalDefinition = "ended = status CONFIRMED or CANCELLED in GET /api/orders/{id}; " +
	"placed->terminal = the order's placedAt to its order_confirmed/order_cancelled timeline entry (platform clock); " +
	"seen = the POST's 202 to the GET first showing the terminal status"

func runLoad(ctx context.Context, stdout, stderr io.Writer, cfg loadConfig) error {
	base, err := cfg.target.baseURL(ctx)
	if err != nil {
		return err
	}
	auth, err := cfg.target.auth()
	if err != nil {
		return err
	}
	es, err := cfg.target.eventStore(ctx)
	if err != nil {
		return err
	}
	defer es.Close()

	if cfg.seed == 0 {
		cfg.seed = uint64(time.Now().UnixNano())
	}
	run := newRunID()
	l := &loader{cfg: cfg, plan: newLoadPlan(run, cfg.orders, cfg.failRate, cfg.seed),
		api: newLoadClient(base, 2*cfg.concurrency+4, cfg.retryFor), tokens: map[string]string{}}
	ttl := 2*cfg.timeout + time.Hour
	if l.admin, err = auth.Issue("troupe-load", httpapi.RoleAdmin, ttl); err != nil {
		return err
	}
	for _, c := range l.plan.customers {
		if l.tokens[c], err = auth.Issue(c, httpapi.RoleCustomer, ttl); err != nil {
			return err
		}
	}

	s := loadSummary{Run: run, Seed: cfg.seed, Orders: cfg.orders, Concurrency: cfg.concurrency, FailRate: cfg.failRate,
		Products: len(l.plan.products), Deposits: len(l.plan.deposits), Terminal: terminalDefinition}
	if cfg.httpFloor > 0 {
		rps, lat, err := l.api.floor(ctx, cfg.concurrency, cfg.httpFloor)
		if err != nil {
			return fmt.Errorf("http floor: %w", err)
		}
		s.Floor = &httpFloor{Seconds: cfg.httpFloor.Seconds(), RequestsPerSecond: rps, Latency: percentilesOf(lat)}
	}
	start := time.Now()
	if err := l.seed(ctx); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	s.SeedSeconds = time.Since(start).Seconds()

	start = time.Now()
	before := l.api.requests.Load()
	stop := l.progress(stderr)
	results := l.placeAll(ctx)
	stop()
	s.Seconds = time.Since(start).Seconds()
	s.Requests = l.api.requests.Load() - before
	if ctx.Err() != nil {
		return ctx.Err()
	}
	s.tally(results)
	if f := s.Floor; f != nil && s.Ended > 0 {
		f.RequestsPerOrder = float64(s.Requests) / float64(s.Ended)
		f.FloorOrdersPerSecond = f.RequestsPerSecond / f.RequestsPerOrder
		f.Ratio = s.OrdersPerS / f.FloorOrdersPerSecond
	}

	start = time.Now()
	rep, cerr := checkInvariants(ctx, es, s.Placed, time.Now().Add(cfg.timeout))
	s.CheckSecond = time.Since(start).Seconds()
	s.Invariants = invariantsOut{OK: cerr == nil && rep.OK(), Orders: rep.Orders, Confirmed: rep.Confirmed, Cancelled: rep.Cancelled,
		SKUs: rep.SKUs, Wallets: rep.Wallets, Violations: rep.Violations}
	if cerr != nil {
		s.Invariants.Error = cerr.Error()
	}
	if s.Invariants.Violations == nil {
		s.Invariants.Violations = []invariant.Violation{}
	}

	if cfg.output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			return err
		}
	} else {
		s.print(stdout)
	}
	var fails []string
	if s.NotPlaced > 0 {
		fails = append(fails, fmt.Sprintf("%d orders not placed", s.NotPlaced))
	}
	if s.NotEnded > 0 {
		fails = append(fails, fmt.Sprintf("%d orders not ended within %v", s.NotEnded, cfg.timeout))
	}
	if cerr != nil {
		fails = append(fails, cerr.Error())
	} else if !rep.OK() {
		fails = append(fails, fmt.Sprintf("%d invariant violations", len(rep.Violations)))
	}
	if len(fails) > 0 {
		return errors.New("load: " + strings.Join(fails, "; "))
	}
	return nil
}

// newRunID is a fresh 6-character run id (upper-case letters and digits,
// valid in SKUs and customer ids).
func newRunID() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, 6)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// tally counts the results into s.
func (s *loadSummary) tally(results []orderResult) {
	s.Reasons = map[string]int{}
	s.Unexpected = map[string]int{}
	var place, server, seen []time.Duration
	for _, r := range results {
		switch r.kind {
		case kindOK:
			s.Expected.Confirm++
		case kindNoFunds:
			s.Expected.FailNoFunds++
		case kindNoStock:
			s.Expected.FailNoStock++
		}
		if r.placeErr != nil {
			s.NotPlaced++
			if len(s.Errors) < 5 {
				s.Errors = append(s.Errors, r.placeErr.Error())
			}
			continue
		}
		s.Placed++
		place = append(place, r.place)
		if !r.terminal {
			s.NotEnded++
			if len(s.Errors) < 5 {
				s.Errors = append(s.Errors, fmt.Sprintf("order %s still %s after the timeout", r.orderID, orUnknown(r.status)))
			}
			continue
		}
		s.Ended++
		seen = append(seen, r.seen)
		if r.server >= 0 {
			server = append(server, r.server)
		}
		if r.status == "CONFIRMED" {
			s.Confirmed++
		} else {
			s.Cancelled++
			s.Reasons[r.reason]++
		}
		wantStatus, wantReason := r.kind.expected()
		switch {
		case r.status != wantStatus || r.reason != wantReason:
			s.Expected.UnexpectedOutcomes++
			s.Unexpected[fmt.Sprintf("designed %s, got %s", outcome(wantStatus, wantReason), outcome(r.status, r.reason))]++
		case r.kind == kindOK:
			s.Expected.Confirmed++
		case r.kind == kindNoFunds:
			s.Expected.FailedNoFunds++
		case r.kind == kindNoStock:
			s.Expected.FailedNoStock++
		}
	}
	if s.Seconds > 0 {
		s.OrdersPerS = float64(s.Ended) / s.Seconds
	}
	s.Latency = loadLatencies{Place: percentilesOf(place), EventTimes: percentilesOf(server), Seen: percentilesOf(seen)}
}

func outcome(status, reason string) string {
	if reason == "" {
		return status
	}
	return status + " (" + reason + ")"
}

func orUnknown(s string) string {
	if s == "" {
		return "unseen"
	}
	return s
}

// percentilesOf returns nearest-rank percentiles of ds in milliseconds.
func percentilesOf(ds []time.Duration) percentiles {
	if len(ds) == 0 {
		return percentiles{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(p float64) float64 {
		i := int(p*float64(len(s))+0.999999) - 1
		i = max(0, min(i, len(s)-1))
		return ms(s[i])
	}
	return percentiles{P50: at(0.50), P95: at(0.95), P99: at(0.99), Max: ms(s[len(s)-1]), N: len(s)}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// print writes the summary as text.
func (s loadSummary) print(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("troupe load: run %s, %d orders, concurrency %d, fail rate %.2f, seed %d", s.Run, s.Orders, s.Concurrency, s.FailRate, s.Seed)
	p("seeded      %d products, %d deposits in %.1f s", s.Products, s.Deposits, s.SeedSeconds)
	p("orders      %d placed, %d ended: %d confirmed, %d cancelled%s", s.Placed, s.Ended, s.Confirmed, s.Cancelled, reasons(s.Reasons))
	if s.NotPlaced > 0 || s.NotEnded > 0 {
		p("not done    %d not placed, %d not ended", s.NotPlaced, s.NotEnded)
		for _, e := range s.Errors {
			p("  %s", e)
		}
	}
	e := s.Expected
	p("expected    %d/%d confirmed as designed; failures as designed: %d/%d payment_failed (no funds), %d/%d out_of_stock",
		e.Confirmed, e.Confirm, e.FailedNoFunds, e.FailNoFunds, e.FailedNoStock, e.FailNoStock)
	p("unexpected  %d", e.UnexpectedOutcomes)
	for _, k := range slices.Sorted(maps.Keys(s.Unexpected)) {
		p("  %d %s", s.Unexpected[k], k)
	}
	p("throughput  %.1f orders/s (%d ended in %.2f s; %d requests)", s.OrdersPerS, s.Ended, s.Seconds, s.Requests)
	if f := s.Floor; f != nil {
		p("http floor  %.0f requests/s (GET /healthz, same client, %d workers, %.0f s; p50 %.2f ms, p99 %.2f ms)",
			f.RequestsPerSecond, s.Concurrency, f.Seconds, f.Latency.P50, f.Latency.P99)
		p("            %.1f requests per order: the floor allows %.0f orders/s; this run reached %.3f of it",
			f.RequestsPerOrder, f.FloorOrdersPerSecond, f.Ratio)
	}
	p("latency ms                         p50       p95       p99       max")
	row := func(name string, q percentiles) {
		p("  %-31s %8.1f  %8.1f  %8.1f  %8.1f", name, q.P50, q.P95, q.P99, q.Max)
	}
	row("POST /api/orders", s.Latency.Place)
	row("placed -> terminal", s.Latency.EventTimes)
	row("placed -> terminal seen", s.Latency.Seen)
	p("(%s)", s.Terminal)
	inv := s.Invariants
	switch {
	case inv.Error != "":
		p("invariants: not checked: %s", inv.Error)
	case inv.OK:
		p("invariants: ok (%d orders in the event store: %d confirmed, %d cancelled; %d SKUs, %d wallets; %.1f s)",
			inv.Orders, inv.Confirmed, inv.Cancelled, inv.SKUs, inv.Wallets, s.CheckSecond)
	default:
		rep := invariant.Report{Orders: inv.Orders, Confirmed: inv.Confirmed, Cancelled: inv.Cancelled, SKUs: inv.SKUs,
			Wallets: inv.Wallets, Violations: inv.Violations}
		p("invariants: FAILED: %s", rep)
	}
}

func reasons(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}
