// Package kafka runs an in-process Kafka-protocol broker (franz-go's kfake)
// for the single-machine default. With a data dir, topics, records and
// committed consumer-group offsets survive a restart.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Config configures an embedded broker.
type Config struct {
	// Addr is the loopback address to listen on; "127.0.0.1:0" (the
	// default) picks a free port.
	Addr string
	// DataDir, when set, makes the broker persist topics, records and
	// group offsets there and reload them at start. Empty means in memory.
	DataDir string
	// Partitions is the partition count of auto-created topics (default 6,
	// as the design's topics have).
	Partitions int
	// NoSync turns off the fsync of every produced batch. By default a
	// record acknowledged to a producer survives a kill -9 of the process;
	// with NoSync it may not (faster, for throwaway test brokers).
	NoSync bool
}

func (c *Config) setDefaults() {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:0"
	}
	if c.Partitions == 0 {
		c.Partitions = 6
	}
}

// Validate reports a configuration that cannot work.
func (c *Config) Validate() error {
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("kafka addr %q: %w", c.Addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("kafka addr %q: the embedded broker listens on loopback only", c.Addr)
	}
	if c.Partitions < 1 {
		return fmt.Errorf("kafka partitions %d: must be at least 1", c.Partitions)
	}
	return nil
}

// Server is a running embedded broker. Close it to stop it and flush its
// data dir.
type Server struct {
	cluster *kfake.Cluster
	addr    string
	once    sync.Once
}

// Start starts a broker and returns once it accepts connections. A taken
// port is an error that names the address.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// kfake always asks for 127.0.0.1:<port>; listening ourselves keeps the
	// configured address and gives a clear error when it is taken.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("embedded kafka: listen on %s: %w (choose another address with --kafka-addr)", cfg.Addr, err)
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.ListenFn(func(string, string) (net.Listener, error) { return ln, nil }),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(cfg.Partitions),
		kfake.ClusterID("troupe-embedded"),
	}
	if cfg.DataDir != "" {
		opts = append(opts, kfake.DataDir(cfg.DataDir))
		if !cfg.NoSync {
			opts = append(opts, kfake.SyncWrites())
		}
	}
	cluster, err := kfake.NewCluster(opts...)
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("embedded kafka: start: %w", err)
	}
	addrs := cluster.ListenAddrs()
	if len(addrs) != 1 {
		cluster.Close()
		return nil, errors.New("embedded kafka: expected exactly one listener")
	}
	return &Server{cluster: cluster, addr: addrs[0]}, nil
}

// Addr returns the broker's host:port.
func (s *Server) Addr() string { return s.addr }

// Brokers returns the bootstrap broker list for clients.
func (s *Server) Brokers() []string { return []string{s.addr} }

// Close stops the broker and, with a data dir, saves its state. It is safe
// to call more than once.
func (s *Server) Close() error {
	s.once.Do(s.cluster.Close)
	return nil
}
