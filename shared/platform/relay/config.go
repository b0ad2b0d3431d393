package relay

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/IBM/sarama"

	"github.com/troupe-dev/troupe/shared/platform/eventstore"
	"github.com/troupe-dev/troupe/shared/platform/messaging"
)

// Defaults applied by New to the Config fields left zero.
const (
	// DefaultMaxInFlight is Config.MaxInFlight's default: enough to keep
	// the producer's batches full at tens of thousands of events a second.
	DefaultMaxInFlight = 8192
	// DefaultCheckpointInterval is Config.CheckpointInterval's default.
	DefaultCheckpointInterval = 250 * time.Millisecond
	// DefaultInitialBackoff is Config.InitialBackoff's default.
	DefaultInitialBackoff = 200 * time.Millisecond
	// DefaultMaxBackoff is Config.MaxBackoff's default.
	DefaultMaxBackoff = 5 * time.Second
	// DefaultShutdownTimeout is Config.ShutdownTimeout's default.
	DefaultShutdownTimeout = 10 * time.Second
)

// contextName is what a context may be called: no dot, so that one
// context's stream prefix ("catalog.") never matches another's streams.
var contextName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Config configures a Relay. Context, EventStore, Brokers and Mapper are
// required; every other field has a default.
type Config struct {
	// Context is the bounded context whose events the relay publishes
	// ("catalog"): it reads the streams prefixed "<Context>.", publishes to
	// messaging.TopicFor(Context) and keeps its checkpoint under the name
	// "relay-<Context>". Renaming it republishes the context's whole
	// history to a new topic.
	Context string
	// EventStore is the client the relay reads $all with and, by default,
	// stores its checkpoint through. The relay does not close it.
	EventStore *esdb.Client
	// Brokers is the Kafka bootstrap list.
	Brokers []string
	// Mapper maps each domain event to zero or one integration event.
	Mapper Mapper

	// Sarama is the producer's configuration. Default:
	// messaging.NewSaramaConfig("troupe-relay-<Context>"). It must keep
	// acks=all and the idempotent producer (Validate refuses otherwise); the
	// relay works on a copy and turns on Return.Successes and Return.Errors.
	Sarama *sarama.Config
	// Checkpoints stores the relay's $all position. Default:
	// eventstore.NewStreamCheckpoints(EventStore), one stream
	// "troupe.checkpoint-relay-<Context>" with maxCount 1.
	Checkpoints eventstore.CheckpointStore
	// MaxInFlight bounds the events handed to the producer from the oldest
	// one Kafka has not acknowledged on: the batching window, the memory
	// held, and part of the duplicates a crash can cause. Default
	// DefaultMaxInFlight.
	MaxInFlight int
	// CheckpointInterval is how often the acknowledged position is saved
	// when it moved. Shorter: fewer duplicates after a crash, more writes to
	// the checkpoint stream. Default DefaultCheckpointInterval.
	CheckpointInterval time.Duration
	// InitialBackoff and MaxBackoff bound the wait before a new producer
	// session after Kafka failed; it doubles, with jitter, between the two
	// and starts again from InitialBackoff after a session that published.
	// Defaults DefaultInitialBackoff and DefaultMaxBackoff.
	InitialBackoff, MaxBackoff time.Duration
	// ShutdownTimeout bounds how long Run, once its context ends, waits for
	// Kafka to acknowledge the events in flight before saving the final
	// checkpoint; past it, the producer is left to finish in the background
	// and what it still held is published again on the next start. Default
	// DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// Logger receives restarts, checkpoint failures and order warnings.
	// Default slog.Default().
	Logger *slog.Logger
	// OnCheckpoint, when set, is called after each checkpoint save with the
	// relay's counters, from a goroutine of Run, never concurrently with
	// itself: a hook for metrics. It must return quickly.
	OnCheckpoint func(Stats)
}

// Topic is the topic the relay publishes to.
func (c *Config) Topic() string { return messaging.TopicFor(c.Context) }

// StreamPrefix is the prefix of the streams the relay reads.
func (c *Config) StreamPrefix() string { return c.Context + "." }

// CheckpointName is the name the relay's position is stored under.
func (c *Config) CheckpointName() string { return "relay-" + c.Context }

func (c *Config) setDefaults() {
	if c.Sarama == nil {
		c.Sarama = messaging.NewSaramaConfig("troupe-relay-" + c.Context)
	}
	if c.Checkpoints == nil && c.EventStore != nil {
		c.Checkpoints = eventstore.NewStreamCheckpoints(c.EventStore)
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.CheckpointInterval <= 0 {
		c.CheckpointInterval = DefaultCheckpointInterval
	}
	if c.InitialBackoff <= 0 {
		c.InitialBackoff = DefaultInitialBackoff
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports the first missing or invalid setting. Zero values that
// have a default are accepted.
func (c *Config) Validate() error {
	switch {
	case !contextName.MatchString(c.Context):
		return fmt.Errorf("relay: Config.Context %q must match %s", c.Context, contextName)
	case c.EventStore == nil:
		return errors.New("relay: Config.EventStore is required")
	case len(c.Brokers) == 0:
		return errors.New("relay: Config.Brokers is required")
	case c.Mapper == nil:
		return errors.New("relay: Config.Mapper is required")
	case c.MaxBackoff > 0 && c.InitialBackoff > c.MaxBackoff:
		return errors.New("relay: Config.MaxBackoff is below InitialBackoff")
	}
	if tm, ok := c.Mapper.(TypedMapper); ok {
		types := tm.SourceTypes()
		if len(types) == 0 {
			return errors.New("relay: Config.Mapper names no source types (SourceTypes): it would publish nothing")
		}
		for _, t := range types {
			if !strings.HasPrefix(t, c.Context+".") || len(t) == len(c.Context)+1 {
				return fmt.Errorf("relay: Config.Mapper source type %q is not one of context %q (want %q and a name)", t, c.Context, c.Context+".")
			}
		}
	}
	if s := c.Sarama; s != nil {
		if s.Producer.RequiredAcks != sarama.WaitForAll || !s.Producer.Idempotent {
			return errors.New("relay: Config.Sarama must keep acks=all and the idempotent producer (start from messaging.NewSaramaConfig)")
		}
		if err := s.Validate(); err != nil {
			return fmt.Errorf("relay: Config.Sarama: %w", err)
		}
	}
	return nil
}
