// Package redis runs an in-process Redis-protocol server (miniredis) for the
// single-machine default and tests. It keeps data in memory only: Troupe's
// read models are rebuilt from Kafka at start.
package redis

import (
	"context"
	"fmt"
	"net"
	"sync"

	"github.com/alicebob/miniredis/v2"
)

// Config configures an embedded Redis server.
type Config struct {
	// Addr is the loopback address to listen on; "127.0.0.1:0" (the
	// default) picks a free port.
	Addr string
}

func (c *Config) setDefaults() {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:0"
	}
}

// Validate reports a configuration that cannot work.
func (c *Config) Validate() error {
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("redis addr %q: %w", c.Addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("redis addr %q: the embedded server listens on loopback only", c.Addr)
	}
	return nil
}

// Server is a running embedded Redis server.
type Server struct {
	mr   *miniredis.Miniredis
	once sync.Once
}

// Start starts a server and returns once it accepts connections. A taken
// port is an error that names the address.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	mr := miniredis.NewMiniRedis()
	if err := mr.StartAddr(cfg.Addr); err != nil {
		return nil, fmt.Errorf("embedded redis: listen on %s: %w (choose another address with --redis-addr)", cfg.Addr, err)
	}
	return &Server{mr: mr}, nil
}

// Addr returns the server's host:port.
func (s *Server) Addr() string { return s.mr.Addr() }

// URL returns the server's address as a redis:// URL for go-redis.
func (s *Server) URL() string { return "redis://" + s.mr.Addr() + "/0" }

// Close stops the server. It is safe to call more than once.
func (s *Server) Close() error {
	s.once.Do(s.mr.Close)
	return nil
}
