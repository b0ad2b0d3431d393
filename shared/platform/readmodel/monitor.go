package readmodel

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// LagFunc measures one read model's lag.
type LagFunc func(ctx context.Context) (Lag, error)

// GroupLagFunc measures one consumer group's lag in records, summed over
// its partitions.
type GroupLagFunc func(ctx context.Context) (int64, error)

// MonitorConfig names what a Monitor measures.
type MonitorConfig struct {
	// ReadModels by name (e.g. "projections", "loyalty").
	ReadModels map[string]LagFunc
	// Groups by consumer-group name; optional.
	Groups map[string]GroupLagFunc
	// TTL is how long a measurement is reused; default 1 s.
	TTL time.Duration
}

// Status is one read model's lag as /readyz reports it.
type Status struct {
	Behind int64 `json:"behind"`
	// NewestApplied is null when nothing was applied yet.
	NewestApplied *time.Time `json:"newestApplied"`
	AgeSeconds    float64    `json:"ageSeconds"`
	// Lagging is Lag.Lagging: visible, but the model stays ready.
	Lagging bool `json:"lagging"`
	// Error says why the lag could not be measured.
	Error string `json:"error,omitempty"`
}

// Monitor measures the lag of a process's read models (and optionally of
// its consumer groups) for /readyz, /metrics and log lines. Each
// successful measurement is reused for the TTL, so probes and scrapes,
// however frequent, cost at most one measurement per model and TTL; a
// failed one is retried on the next call (a model not built yet should
// show as soon as it is). It is safe for
// concurrent use.
type Monitor struct {
	cfg    MonitorConfig
	models []string
	groups []string

	mu     sync.Mutex
	lags   map[string]measured[Lag]
	glags  map[string]measured[int64]
	gauges *lagCollector
}

type measured[T any] struct {
	at  time.Time
	v   T
	err error
}

// NewMonitor returns a Monitor of cfg's read models and groups.
func NewMonitor(cfg MonitorConfig) *Monitor {
	if cfg.TTL <= 0 {
		cfg.TTL = time.Second
	}
	m := &Monitor{cfg: cfg, lags: map[string]measured[Lag]{}, glags: map[string]measured[int64]{}}
	for n := range cfg.ReadModels {
		m.models = append(m.models, n)
	}
	for n := range cfg.Groups {
		m.groups = append(m.groups, n)
	}
	slices.Sort(m.models)
	slices.Sort(m.groups)
	m.gauges = &lagCollector{m: m}
	return m
}

// Models lists the monitored read models, sorted.
func (m *Monitor) Models() []string { return slices.Clone(m.models) }

// Lag returns the named read model's lag, measured at most TTL ago; Age
// is computed now.
func (m *Monitor) Lag(ctx context.Context, name string) (Lag, error) {
	f, ok := m.cfg.ReadModels[name]
	if !ok {
		return Lag{}, nil
	}
	m.mu.Lock()
	c, ok := m.lags[name]
	m.mu.Unlock()
	if !ok || c.err != nil || time.Since(c.at) > m.cfg.TTL {
		c.v, c.err = f(ctx)
		c.at = time.Now()
		m.mu.Lock()
		m.lags[name] = c
		m.mu.Unlock()
	}
	l := c.v
	if !l.NewestApplied.IsZero() {
		l.Age = time.Since(l.NewestApplied)
	}
	return l, c.err
}

func (m *Monitor) groupLag(ctx context.Context, name string) (int64, error) {
	m.mu.Lock()
	c, ok := m.glags[name]
	m.mu.Unlock()
	if !ok || c.err != nil || time.Since(c.at) > m.cfg.TTL {
		c.v, c.err = m.cfg.Groups[name](ctx)
		c.at = time.Now()
		m.mu.Lock()
		m.glags[name] = c
		m.mu.Unlock()
	}
	return c.v, c.err
}

// Statuses returns every read model's lag as /readyz reports it.
func (m *Monitor) Statuses(ctx context.Context) map[string]Status {
	out := make(map[string]Status, len(m.models))
	for _, n := range m.models {
		l, err := m.Lag(ctx, n)
		st := Status{Behind: l.Behind, AgeSeconds: l.Age.Seconds(), Lagging: l.Lagging()}
		if !l.NewestApplied.IsZero() {
			at := l.NewestApplied.UTC()
			st.NewestApplied = &at
		}
		if err != nil {
			st = Status{Error: err.Error()}
		}
		out[n] = st
	}
	return out
}

// Collector returns the Prometheus collector of the lag gauges
// (troupe_readmodel_lag_events{model},
// troupe_readmodel_newest_applied_age_seconds{model},
// troupe_subscriber_lag_events{group}). It reports the measurements
// cached by the last Refresh (Collect has no context to measure under);
// Handler refreshes before each scrape.
func (m *Monitor) Collector() prometheus.Collector { return m.gauges }

// Refresh measures whatever is older than the TTL.
func (m *Monitor) Refresh(ctx context.Context) {
	for _, n := range m.models {
		_, _ = m.Lag(ctx, n)
	}
	for _, n := range m.groups {
		_, _ = m.groupLag(ctx, n)
	}
}

// Handler serves /metrics in the Prometheus text format: the lag gauges,
// the Go runtime and the process collectors, on a registry of its own (no
// global state). Each scrape first refreshes the lag under the request's
// context.
func (m *Monitor) Handler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.gauges, collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.Refresh(r.Context())
		h.ServeHTTP(w, r)
	})
}

var (
	lagEventsDesc = prometheus.NewDesc("troupe_readmodel_lag_events",
		"Records on the read model's topics past its stored offsets.", []string{"model"}, nil)
	lagAgeDesc = prometheus.NewDesc("troupe_readmodel_newest_applied_age_seconds",
		"Seconds since the occurred-at time of the newest event the read model applied.", []string{"model"}, nil)
	groupLagDesc = prometheus.NewDesc("troupe_subscriber_lag_events",
		"Records past the consumer group's committed offsets, summed over its partitions.", []string{"group"}, nil)
)

type lagCollector struct{ m *Monitor }

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- lagEventsDesc
	ch <- lagAgeDesc
	ch <- groupLagDesc
}

// Collect emits the cached measurements; a model whose last measurement
// failed, or that was never measured, is left out rather than shown as 0.
func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	for _, n := range c.m.models {
		l, ok := c.m.lags[n]
		if !ok || l.err != nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(lagEventsDesc, prometheus.GaugeValue, float64(l.v.Behind), n)
		if !l.v.NewestApplied.IsZero() {
			ch <- prometheus.MustNewConstMetric(lagAgeDesc, prometheus.GaugeValue, time.Since(l.v.NewestApplied).Seconds(), n)
		}
	}
	for _, n := range c.m.groups {
		g, ok := c.m.glags[n]
		if !ok || g.err != nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(groupLagDesc, prometheus.GaugeValue, float64(g.v), n)
	}
}
