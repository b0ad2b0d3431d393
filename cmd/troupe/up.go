package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/troupe-dev/troupe/cmd/troupe/stack"
	"github.com/troupe-dev/troupe/shared/platform/httpapi"
	"github.com/troupe-dev/troupe/shared/platform/readmodel"
	webhook "github.com/troupe-dev/troupe/subscribers/webhook/service"
)

// upConfig is what `troupe up` is started with.
type upConfig struct {
	dataDir        string
	httpAddr       string
	eventstoreAddr string
	kafkaAddr      string
	redisAddr      string
	eventstoreURL  string
	kafkaBrokers   string
	redisURL       string
	pspURL         string
	jwtSecret      string
	currency       string
	orderTimeout   string
	webhooksFile   string
}

func newUpCmd() *cobra.Command {
	var cfg upConfig
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run the whole platform in one process on the embedded servers",
		Long: "Starts the embedded event store and Kafka broker (both kept in the data dir), Redis\n" +
			"(miniredis) and the card gateway simulator, the catalog, ordering, payments and\n" +
			"projections services, and their API on one HTTP listener; writes\n" +
			"<data dir>/endpoints.json, prints the URLs and an admin token, and runs until Ctrl-C.\n" +
			"Give a URL (or brokers) to use a running server instead of an embedded one.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stack.TuneGC()
			return up(cmd.Context(), cmd.OutOrStdout(), cfg)
		},
	}
	fs := cmd.Flags()
	envFlag(fs, &cfg.dataDir, "data-dir", "./data", "directory for embedded data, endpoints.json and the generated JWT secret")
	envFlag(fs, &cfg.httpAddr, "http-addr", "127.0.0.1:8080", "API listener")
	envFlag(fs, &cfg.eventstoreAddr, "eventstore-addr", "127.0.0.1:0", "listen address of the embedded event store")
	envFlag(fs, &cfg.kafkaAddr, "kafka-addr", "127.0.0.1:0", "listen address of the embedded Kafka broker")
	envFlag(fs, &cfg.redisAddr, "redis-addr", "127.0.0.1:0", "listen address of the embedded Redis")
	envFlag(fs, &cfg.eventstoreURL, "eventstore-url", "", "a running event store instead of the embedded one")
	envFlag(fs, &cfg.kafkaBrokers, "kafka-brokers", "", "comma-separated brokers of a running Kafka instead of the embedded one")
	envFlag(fs, &cfg.redisURL, "redis-url", "", "a running Redis instead of the embedded one")
	envFlag(fs, &cfg.pspURL, "psp-url", "", "the card payment gateway instead of the embedded simulator")
	envFlag(fs, &cfg.jwtSecret, "jwt-secret", "", "HS256 signing secret, at least 32 bytes (default: generated into the data dir)")
	envFlag(fs, &cfg.currency, "currency", "EUR", "the deployment's one currency")
	envFlag(fs, &cfg.orderTimeout, "order-timeout", "60s", "an order not confirmed by then is cancelled")
	fs.StringVar(&cfg.webhooksFile, "webhooks", "", "a JSON file of webhooks [{name, url, secret, types}] (else env "+webhook.EnvWebhooks+" holds the JSON)")
	return cmd
}

// endpoints is the content of <data dir>/endpoints.json, which other
// commands read to find a running platform. An empty field is omitted.
type endpoints struct {
	HTTP       string `json:"http,omitempty"`
	EventStore string `json:"eventstore,omitempty"`
	Kafka      string `json:"kafka,omitempty"`
	Redis      string `json:"redis,omitempty"`
	PID        int    `json:"pid"`
}

// flagFor names the flag that moves each component to another address.
var flagFor = map[string]string{
	"http": "--http-addr", "eventstore": "--eventstore-addr", "kafka": "--kafka-addr",
	"redis": "--redis-addr", "psp": "--psp-url",
}

func up(ctx context.Context, out io.Writer, cfg upConfig) error {
	timeout, err := time.ParseDuration(cfg.orderTimeout)
	if err != nil || timeout <= 0 {
		return usageError{fmt.Errorf("--order-timeout %q: want a positive duration such as 60s", cfg.orderTimeout)}
	}
	if len(cfg.currency) != 3 || strings.ToUpper(cfg.currency) != cfg.currency {
		return usageError{fmt.Errorf("--currency %q: want a three-letter upper-case code such as EUR", cfg.currency)}
	}
	if err := os.MkdirAll(cfg.dataDir, 0o755); err != nil {
		return fmt.Errorf("data dir %s: %w (choose another with --data-dir)", cfg.dataDir, err)
	}
	unlock, err := lockDataDir(cfg.dataDir)
	if err != nil {
		return err
	}
	defer unlock()

	hooks, err := webhook.LoadConfig(cfg.webhooksFile, os.Getenv(webhook.EnvWebhooks))
	if err != nil {
		return usageError{err}
	}
	var brokers []string
	if cfg.kafkaBrokers != "" {
		brokers = strings.Split(cfg.kafkaBrokers, ",")
	}
	// The services log warnings and errors only; the lines a user wants
	// (ready, stopping) are printed here.
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var rebuilds startRebuilds
	startCtx, cancelStart := context.WithTimeout(ctx, 30*time.Second)
	defer cancelStart()
	st, err := stack.Start(startCtx, stack.Config{
		DataDir: cfg.dataDir, HTTPAddr: cfg.httpAddr,
		EventStoreURL: cfg.eventstoreURL, EventStoreAddr: cfg.eventstoreAddr,
		KafkaBrokers: brokers, KafkaAddr: cfg.kafkaAddr,
		RedisURL: cfg.redisURL, RedisAddr: cfg.redisAddr,
		PSPURL: cfg.pspURL, JWTSecret: []byte(cfg.jwtSecret),
		Currency: cfg.currency, OrderTimeout: timeout, Logger: logger, Webhooks: hooks,
		RebuildProgress: rebuilds.set,
	})
	if err != nil {
		var ae *stack.AddrError
		if errors.As(err, &ae) {
			return fmt.Errorf("%w (choose another with %s)", err, flagFor[ae.Component])
		}
		return err
	}
	defer st.Close()

	redisURL := st.RedisURL()
	ep := endpoints{HTTP: st.HTTPAddr(), EventStore: st.EventStoreURL(), Kafka: strings.Join(st.Brokers(), ","),
		Redis: redisURL, PID: os.Getpid()}
	epPath := filepath.Join(cfg.dataDir, "endpoints.json")
	if err := writeJSONFile(epPath, ep); err != nil {
		return err
	}
	defer os.Remove(epPath)
	token, err := st.Auth().Issue("admin", httpapi.RoleAdmin, 24*time.Hour)
	if err != nil {
		return err
	}

	fmt.Fprintf(out, "troupe is up (data in %s)\n", cfg.dataDir)
	fmt.Fprintf(out, "  http        %s\n", st.HTTPURL())
	fmt.Fprintf(out, "  eventstore  %s\n", ep.EventStore)
	fmt.Fprintf(out, "  kafka       %s\n", ep.Kafka)
	fmt.Fprintf(out, "  redis       %s\n", ep.Redis)
	fmt.Fprintf(out, "  psp         %s\n", st.PSPURL())
	fmt.Fprintf(out, "  admin token %s\n", token)
	fmt.Fprintf(out, "  endpoints written to %s; Ctrl-C stops\n", epPath)

	ready := make(chan error, 1)
	go func() { ready <- st.Ready(ctx) }()
	lagTick := time.NewTicker(lagCheckInterval)
	defer lagTick.Stop()
	lagging := map[string]bool{}
	progressTick := time.NewTicker(time.Second)
	defer progressTick.Stop()
	for {
		select {
		case err := <-ready:
			if err == nil {
				fmt.Fprintf(out, "ready: %s caught up\n", strings.Join(st.Services(), ", "))
			}
			ready = nil
			continue
		case <-lagTick.C:
			printLag(out, st.ReadModels(ctx), lagging)
			continue
		case <-progressTick.C:
			rebuilds.print(out)
			continue
		case <-st.Failed():
			fmt.Fprintln(out, "stopping")
			return st.Err()
		case <-ctx.Done():
		}
		break
	}
	fmt.Fprintln(out, "stopping")
	if err := st.Close(); err != nil {
		return err
	}
	fmt.Fprintln(out, "stopped")
	return nil
}

// lagCheckInterval is how often `troupe up` looks at its read models' lag.
const lagCheckInterval = 5 * time.Second

// printLag prints one line when a read model starts lagging (past
// readmodel.LagEvents or LagAge) and one when it has caught up again;
// lagging holds what was last printed per model. A model whose lag cannot
// be measured is left as it was (its service reports the error).
func printLag(out io.Writer, models map[string]readmodel.Status, lagging map[string]bool) {
	names := make([]string, 0, len(models))
	for n := range models {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		st := models[n]
		switch {
		case st.Error != "":
		case st.Lagging && !lagging[n]:
			lagging[n] = true
			newest := "nothing applied yet"
			if st.NewestApplied != nil {
				newest = fmt.Sprintf("newest applied event %s old", time.Duration(st.AgeSeconds*float64(time.Second)).Round(time.Second))
			}
			fmt.Fprintf(out, "lag warning: read model %s is %d events behind (%s)\n", n, st.Behind, newest)
		case !st.Lagging && lagging[n]:
			delete(lagging, n)
			fmt.Fprintf(out, "lag: read model %s caught up (%d events behind)\n", n, st.Behind)
		}
	}
}

// lockDataDir takes an exclusive lock on the data dir so that two platforms
// never share one; the lock goes with the process, even on kill -9.
func lockDataDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("data dir %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("data dir %s is in use by another troupe process (choose another with --data-dir)", dir)
		}
		return nil, fmt.Errorf("lock data dir %s: %w", dir, err)
	}
	return func() { f.Close() }, nil
}

// writeJSONFile writes v to path atomically (temp file, fsync, rename).
func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

// startRebuilds collects the read models' rebuild progress from the
// services' goroutines; up prints it from its own loop, once a second at
// most, so the lines never interleave.
type startRebuilds struct {
	mu      sync.Mutex
	models  map[string][2]int64 // done, total
	printed map[string]int64    // done at the last line printed
}

// set records a model's progress (stack.Config.RebuildProgress).
func (r *startRebuilds) set(model string, done, total int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.models == nil {
		r.models, r.printed = map[string][2]int64{}, map[string]int64{}
	}
	r.models[model] = [2]int64{done, total}
}

// print writes one line per model whose rebuild moved since the last line,
// and a last one when it has read everything.
func (r *startRebuilds) print(out io.Writer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	names := make([]string, 0, len(r.models))
	for n := range r.models {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := r.models[n]
		done, total := p[0], p[1]
		last, seen := r.printed[n]
		if seen && last == done {
			continue
		}
		r.printed[n] = done
		switch {
		case done >= total:
			fmt.Fprintf(out, "read model %s rebuilt from %d records\n", n, total)
			delete(r.models, n)
		default:
			fmt.Fprintf(out, "rebuilding read model %s: %d/%d records (%d%%)\n", n, done, total, done*100/max(total, 1))
		}
	}
}
