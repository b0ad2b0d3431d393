package eventstore

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
)

// Default values applied by Start when a Config field is left zero.
const (
	DefaultAddr             = "127.0.0.1:0"
	DefaultMaxAppendSize    = 1_048_576
	DefaultSubscriberBuffer = 10_000
	DefaultMaxStreamNameLen = 1024
	DefaultCacheSize        = 128 << 20
)

// Config configures an embedded event store server. The zero value of every
// field but DataDir selects its default.
type Config struct {
	// Addr is the TCP listen address; default "127.0.0.1:0" (a free port).
	Addr string
	// DataDir holds the Pebble database; required, created if missing. Only
	// one server may use a data dir at a time.
	DataDir string
	// MaxAppendSize bounds the bytes of one append request (the sum of the
	// encoded proposed events); default 1 MiB, like KurrentDB.
	MaxAppendSize int
	// SubscriberBuffer is how many live events a subscription may have queued
	// before it is dropped with an error; default 10,000. Appends never wait
	// for subscribers.
	SubscriberBuffer int
	// MaxStreamNameLen bounds a stream name in bytes; default 1024.
	MaxStreamNameLen int
	// CacheSize is the bytes of Pebble's block cache, which keeps recently
	// read index and data blocks decompressed in memory; default 128 MiB.
	// It is filled on demand, so a small store uses less.
	CacheSize int64
	// Logger receives operational messages; default slog.Default().
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.MaxAppendSize == 0 {
		c.MaxAppendSize = DefaultMaxAppendSize
	}
	if c.SubscriberBuffer == 0 {
		c.SubscriberBuffer = DefaultSubscriberBuffer
	}
	if c.MaxStreamNameLen == 0 {
		c.MaxStreamNameLen = DefaultMaxStreamNameLen
	}
	if c.CacheSize == 0 {
		c.CacheSize = DefaultCacheSize
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports the first invalid field. It accepts zero values that have
// a default.
func (c *Config) Validate() error {
	if c.DataDir == "" {
		return errors.New("eventstore config: DataDir is required")
	}
	if c.Addr != "" {
		if _, _, err := net.SplitHostPort(c.Addr); err != nil {
			return fmt.Errorf("eventstore config: Addr %q: %w", c.Addr, err)
		}
	}
	if c.MaxAppendSize < 0 {
		return fmt.Errorf("eventstore config: MaxAppendSize %d must be positive", c.MaxAppendSize)
	}
	if c.SubscriberBuffer < 0 {
		return fmt.Errorf("eventstore config: SubscriberBuffer %d must be positive", c.SubscriberBuffer)
	}
	if c.CacheSize < 0 {
		return fmt.Errorf("eventstore config: CacheSize %d must be positive", c.CacheSize)
	}
	if c.MaxStreamNameLen < 0 || c.MaxStreamNameLen > 65535 {
		return fmt.Errorf("eventstore config: MaxStreamNameLen %d must be in 1..65535", c.MaxStreamNameLen)
	}
	return nil
}
