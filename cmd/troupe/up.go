package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	embes "github.com/troupe-dev/troupe/embedded/eventstore"
	embkafka "github.com/troupe-dev/troupe/embedded/kafka"
	embredis "github.com/troupe-dev/troupe/embedded/redis"
)

// upConfig is what `troupe up` is started with.
type upConfig struct {
	dataDir        string
	eventstoreAddr string
	kafkaAddr      string
	redisAddr      string
}

func newUpCmd() *cobra.Command {
	var cfg upConfig
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run the platform in one process on the embedded servers",
		Long: "Starts the embedded event store and Kafka broker (both kept in the data dir)\n" +
			"and Redis (miniredis), writes <data dir>/endpoints.json, and runs until Ctrl-C.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return up(cmd.Context(), cmd.OutOrStdout(), cfg)
		},
	}
	fs := cmd.Flags()
	envFlag(fs, &cfg.dataDir, "data-dir", "./data", "directory for embedded data and endpoints.json")
	envFlag(fs, &cfg.eventstoreAddr, "eventstore-addr", "127.0.0.1:0", "listen address of the embedded event store")
	envFlag(fs, &cfg.kafkaAddr, "kafka-addr", "127.0.0.1:0", "listen address of the embedded Kafka broker")
	envFlag(fs, &cfg.redisAddr, "redis-addr", "127.0.0.1:0", "listen address of the embedded Redis")
	return cmd
}

// endpoints is the content of <data dir>/endpoints.json, which other
// commands read to find a running platform. Fields appear as the platform
// grows; an empty one is omitted.
type endpoints struct {
	HTTP       string `json:"http,omitempty"`
	EventStore string `json:"eventstore,omitempty"`
	Kafka      string `json:"kafka,omitempty"`
	Redis      string `json:"redis,omitempty"`
	PID        int    `json:"pid"`
}

func up(ctx context.Context, out io.Writer, cfg upConfig) error {
	if err := os.MkdirAll(cfg.dataDir, 0o755); err != nil {
		return fmt.Errorf("data dir %s: %w (choose another with --data-dir)", cfg.dataDir, err)
	}
	unlock, err := lockDataDir(cfg.dataDir)
	if err != nil {
		return err
	}
	defer unlock()

	es, err := embes.Start(ctx, embes.Config{Addr: cfg.eventstoreAddr, DataDir: filepath.Join(cfg.dataDir, "eventstore")})
	if err != nil {
		return fmt.Errorf("%w (choose another address with --eventstore-addr)", err)
	}
	defer es.Close()
	kafka, err := embkafka.Start(ctx, embkafka.Config{Addr: cfg.kafkaAddr, DataDir: filepath.Join(cfg.dataDir, "kafka")})
	if err != nil {
		return err
	}
	defer kafka.Close()
	redis, err := embredis.Start(ctx, embredis.Config{Addr: cfg.redisAddr})
	if err != nil {
		return err
	}
	defer redis.Close()

	ep := endpoints{EventStore: es.URL(), Kafka: kafka.Addr(), Redis: redis.URL(), PID: os.Getpid()}
	epPath := filepath.Join(cfg.dataDir, "endpoints.json")
	if err := writeJSONFile(epPath, ep); err != nil {
		return err
	}
	defer os.Remove(epPath)

	fmt.Fprintf(out, "troupe is up (data in %s)\n", cfg.dataDir)
	fmt.Fprintf(out, "  eventstore  %s\n", ep.EventStore)
	fmt.Fprintf(out, "  kafka       %s\n", ep.Kafka)
	fmt.Fprintf(out, "  redis       %s\n", ep.Redis)
	fmt.Fprintf(out, "  endpoints written to %s; Ctrl-C stops\n", epPath)
	<-ctx.Done()
	fmt.Fprintln(out, "stopping")
	return nil
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
