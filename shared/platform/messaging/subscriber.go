package messaging

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"sync"
	"time"

	"github.com/IBM/sarama"
	wkafka "github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/cenkalti/backoff/v5"

	"github.com/troupe-dev/troupe/schemas"
	"github.com/troupe-dev/troupe/shared/events"
)

// SubscriberConfig configures a Subscriber. Zero fields take the defaults
// documented on each.
type SubscriberConfig struct {
	// Brokers is the Kafka bootstrap list. Required.
	Brokers []string
	// Sarama is the client configuration; default NewSaramaConfig(name).
	Sarama *sarama.Config
	// Topics to consume; default the "<context>.events" topic of every
	// handled event type.
	Topics []string
	// MaxAttempts is how many times a handler is called for one message
	// before it goes to the dead-letter topic (default 5).
	MaxAttempts int
	// RetryInitial and RetryMax bound the exponential backoff between
	// attempts (defaults 50 ms and 2 s).
	RetryInitial time.Duration
	RetryMax     time.Duration
	// Registry upcasts and decodes payloads; default events.NewRegistry().
	Registry *events.Registry
	// Schemas validates every payload before its handler runs, against the
	// schema of the version it was written as; a type without a schema, or
	// a payload that does not conform, is dead-lettered at once. Default:
	// every published schema (schemas.Compile()).
	Schemas *schemas.Set
	// Hooks receive metrics events; nil hooks are skipped.
	Hooks Hooks
	// Logger receives operational logs; default slog.Default().
	Logger *slog.Logger
	// ResetRefusal, when not empty, makes Reset refuse (ErrNotResettable)
	// with this reason: for a subscriber whose position lives in its read
	// store and that a group reset cannot move, say what to use instead.
	ResetRefusal string
	// OnReset, if set, is called by Reset while the subscriber is paused,
	// with the offsets the group is about to be moved to and before they
	// are committed: a subscriber that stores its position beside its read
	// model moves that position too, so a restart does not undo the reset.
	// An error aborts the reset (the group stays where it was).
	OnReset func(ctx context.Context, to []PartitionOffset) error
}

// Hooks are called from the subscriber's workers (concurrently: they must
// be safe for concurrent use and quick).
type Hooks struct {
	// Processed: a handler succeeded for m after took.
	Processed func(m Meta, took time.Duration)
	// Failed: one handler attempt failed (it may be retried).
	Failed func(m Meta, err error)
	// DeadLettered: m went to the dead-letter topic, with the reason.
	DeadLettered func(m Meta, reason string)
}

func (c *SubscriberConfig) setDefaults(name string) {
	if c.Sarama == nil {
		c.Sarama = NewSaramaConfig(name)
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 5
	}
	if c.RetryInitial == 0 {
		c.RetryInitial = 50 * time.Millisecond
	}
	if c.RetryMax == 0 {
		c.RetryMax = 2 * time.Second
	}
	if c.Registry == nil {
		c.Registry = events.NewRegistry()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports a configuration that cannot work.
func (c *SubscriberConfig) Validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("subscriber: no Kafka brokers")
	}
	if c.MaxAttempts < 1 {
		return fmt.Errorf("subscriber: MaxAttempts %d: must be at least 1", c.MaxAttempts)
	}
	if c.RetryInitial <= 0 || c.RetryMax < c.RetryInitial {
		return fmt.Errorf("subscriber: retry backoff %v..%v is not a range", c.RetryInitial, c.RetryMax)
	}
	if c.Sarama.Consumer.Offsets.Initial != sarama.OffsetOldest {
		return errors.New("subscriber: a new group must start at the oldest offset, or it silently skips history")
	}
	return nil
}

var subscriberName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)

// handler is a type-erased handler: it decodes the payload and calls the
// user's function.
type handler func(ctx context.Context, payload []byte, m Meta) error

// ErrStillFailing is returned by Redrive and RedriveID when a dead letter's
// handler fails again; it stays in the dead-letter topic, with whatever is
// parked behind it.
var ErrStillFailing = errors.New("still failing")

// errUndecodable marks a payload that can never be handled; it goes to the
// dead-letter topic at once, without retries.
var errUndecodable = errors.New("undecodable payload")

// Subscriber consumes integration events as the consumer group of its name,
// calls the handler registered for each event type, retries failures with
// backoff, and dead-letters what keeps failing so its partition moves on.
//
// Guarantees: at-least-once delivery; events of one stream are handled in
// order, one at a time (streams are keys, and a partition has at most one
// event in flight); a new group starts at the oldest offset; an offset is
// committed only after its handler succeeded or the event was
// dead-lettered. Once an event of a stream is dead-lettered, later events of
// that stream are parked behind it in the dead-letter topic (in order)
// until Redrive feeds them back, so per-stream order is never broken.
// Handlers must tolerate redelivery (see Meta.EventID and Meta.Revision).
type Subscriber struct {
	name     string
	cfg      SubscriberConfig
	handlers map[string]handler

	// mu guards parked and orders every dead-letter write against Redrive's
	// unparking, so no event slips past a parked one.
	mu     sync.Mutex
	parked map[string]bool
	dlq    sarama.SyncProducer
	client sarama.Client

	// ctl is the run state that Pause, Resume and Reset drive.
	ctl control
	// redriveMu serializes redrives, which share the redrive cursor.
	redriveMu sync.Mutex
}

// NewSubscriber returns a subscriber named name (its consumer group and the
// prefix of its dead-letter topic "<name>.dlq"). The name must be stable:
// renaming a subscriber makes it a new group that re-consumes all history.
// Register handlers with Handle or HandleRaw before Run.
func NewSubscriber(name string, cfg SubscriberConfig) (*Subscriber, error) {
	if !subscriberName.MatchString(name) {
		return nil, fmt.Errorf("subscriber name %q: want lowercase letters, digits and dashes, starting with a letter", name)
	}
	cfg.setDefaults(name)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Schemas == nil {
		set, err := compileSchemas()
		if err != nil {
			return nil, err
		}
		cfg.Schemas = set
	}
	return &Subscriber{name: name, cfg: cfg, handlers: map[string]handler{}, parked: map[string]bool{}}, nil
}

// Name returns the subscriber's name, which is also its consumer group.
func (s *Subscriber) Name() string { return s.name }

// Handle registers fn for the event type of E, which must be the current
// version of its event: fn also receives every older version, upcast (a
// v1 order_placed arrives as events.OrderPlaced, with Meta.EventType the
// current type). Registering a type twice replaces the earlier handler.
// Registering a superseded version panics. Call it before Run.
func Handle[E events.Event](s *Subscriber, fn func(ctx context.Context, e E, m Meta) error) {
	var zero E
	if cur := s.currentType(zero.EventType()); cur != zero.EventType() {
		panic(fmt.Sprintf("messaging.Handle: %s is superseded by %s; handle the current version", zero.EventType(), cur))
	}
	s.handlers[zero.EventType()] = func(ctx context.Context, payload []byte, m Meta) error {
		ev, err := s.cfg.Registry.Decode(m.EventType, payload)
		if err != nil {
			return fmt.Errorf("%w: %v", errUndecodable, err)
		}
		e, ok := ev.(E)
		if !ok {
			return fmt.Errorf("%w: registry type %T is not %T", errUndecodable, ev, zero)
		}
		return fn(ctx, e, m)
	}
}

// HandleRaw registers fn for eventType, receiving the JSON payload as
// validated and upcast to the current version (for forwarders such as
// webhooks). Naming a superseded version registers its current one, so fn
// receives every version of the event in the current shape. A payload that
// is not JSON is dead-lettered at once. Call it before Run.
func HandleRaw(s *Subscriber, eventType string, fn func(ctx context.Context, payload []byte, m Meta) error) {
	s.handlers[s.currentType(eventType)] = func(ctx context.Context, payload []byte, m Meta) error {
		if !json.Valid(payload) {
			return fmt.Errorf("%w: not JSON", errUndecodable)
		}
		return fn(ctx, payload, m)
	}
}

// Topics returns the topics the subscriber consumes.
func (s *Subscriber) Topics() []string {
	if len(s.cfg.Topics) > 0 {
		return s.cfg.Topics
	}
	seen := map[string]bool{}
	var out []string
	for t := range s.handlers {
		topic := TopicFor(events.ContextOf(t))
		if !seen[topic] {
			seen[topic] = true
			out = append(out, topic)
		}
	}
	sort.Strings(out)
	return out
}

// Run consumes until ctx ends, then stops and commits what was processed.
// It returns nil after a clean stop, or the error that stopped it. While it
// runs, Pause, Resume and Reset leave and rejoin the consumer group without
// Run returning.
func (s *Subscriber) Run(ctx context.Context) error {
	if len(s.handlers) == 0 {
		return errors.New("subscriber " + s.name + ": no handlers")
	}
	if err := s.ctl.start(); err != nil {
		return fmt.Errorf("subscriber %s: %w", s.name, err)
	}
	defer s.ctl.stop()
	topics := s.Topics()
	if err := EnsureTopics(s.cfg.Brokers, s.cfg.Sarama, append(append([]string{}, topics...), DLQTopic(s.name))...); err != nil {
		return fmt.Errorf("subscriber %s: %w", s.name, err)
	}
	if err := s.open(); err != nil {
		return err
	}
	defer s.close()
	if err := s.loadParked(ctx); err != nil {
		return fmt.Errorf("subscriber %s: load parked streams: %w", s.name, err)
	}
	for {
		if consumeCtx, done, ok := s.ctl.session(ctx); ok {
			err := s.consume(consumeCtx, topics)
			done()
			if err != nil || ctx.Err() != nil {
				return err
			}
		}
		// Paused: the group was left cleanly; wait to rejoin it.
		if !s.ctl.awaitResume(ctx) {
			return nil
		}
	}
}

// consume is one membership of the consumer group: it consumes until ctx
// ends (Run's context, or a pause), then leaves the group, committing what
// was processed.
func (s *Subscriber) consume(ctx context.Context, topics []string) error {
	wsub, err := wkafka.NewSubscriber(wkafka.SubscriberConfig{
		Brokers:               s.cfg.Brokers,
		Unmarshaler:           wkafka.DefaultMarshaler{},
		OverwriteSaramaConfig: s.cfg.Sarama,
		ConsumerGroup:         s.name,
	}, watermillLogger{l: s.cfg.Logger.With("subscriber", s.name)})
	if err != nil {
		return fmt.Errorf("subscriber %s: %w", s.name, err)
	}
	defer wsub.Close()

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for _, topic := range topics {
		msgs, err := wsub.Subscribe(runCtx, topic)
		if err != nil {
			cancel()
			wg.Wait()
			if ctx.Err() != nil {
				return nil // paused or stopped while joining
			}
			return fmt.Errorf("subscriber %s: subscribe %s: %w", s.name, topic, err)
		}
		// One worker per partition: a partition never has two messages in
		// flight, so this is as much concurrency as order allows.
		for i := 0; i < TopicPartitions; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for msg := range msgs {
					s.deliver(runCtx, topic, msg)
				}
			}()
		}
	}
	<-ctx.Done()
	cancel()
	err = wsub.Close()
	wg.Wait()
	if err != nil {
		return fmt.Errorf("subscriber %s: close: %w", s.name, err)
	}
	return nil
}

func (s *Subscriber) open() error {
	client, err := sarama.NewClient(s.cfg.Brokers, s.cfg.Sarama)
	if err != nil {
		return fmt.Errorf("subscriber %s: connect: %w", s.name, err)
	}
	dlq, err := sarama.NewSyncProducerFromClient(client)
	if err != nil {
		client.Close()
		return fmt.Errorf("subscriber %s: dead-letter producer: %w", s.name, err)
	}
	s.client, s.dlq = client, dlq
	return nil
}

func (s *Subscriber) close() {
	if s.dlq != nil {
		_ = s.dlq.Close()
	}
	if s.client != nil {
		_ = s.client.Close()
	}
}

// deliver handles one watermill message and acks it once it is handled or
// dead-lettered. A message it cannot settle (the context ended) is left
// unacked, so it is redelivered after a restart.
func (s *Subscriber) deliver(ctx context.Context, topic string, msg *message.Message) {
	h := make(map[string]string, len(msg.Metadata))
	for k, v := range msg.Metadata {
		h[k] = v
	}
	m, ok := metaFrom(h)
	m.Topic = topic
	m.Partition, _ = wkafka.MessagePartitionFromCtx(msg.Context())
	m.Offset, _ = wkafka.MessagePartitionOffsetFromCtx(msg.Context())
	rec := Message{Key: m.Stream, Value: msg.Payload, Headers: h}
	if key, ok := wkafka.MessageKeyFromCtx(msg.Context()); ok {
		rec.Key = string(key)
	}
	if ts, ok := wkafka.MessageTimestampFromCtx(msg.Context()); ok {
		rec.Timestamp = ts
	}
	if !ok {
		if err := s.deadLetter(ctx, rec, m, "missing troupe-event-id, troupe-event-type or troupe-stream header", 0); err != nil {
			return
		}
		msg.Ack()
		return
	}
	if s.handle(ctx, rec, m, false) == nil {
		msg.Ack()
	}
}

// handle runs the handler for one event with retries, dead-lettering it
// when it keeps failing or can never succeed. It returns nil once the event
// is settled (handled, skipped, or dead-lettered) and an error only when
// the context ended first.
//
// Before the handler runs, the payload is validated against its version's
// schema and upcast to the current version (see contract.go); the handler
// and the hooks see the current type in m.EventType, while a dead letter
// keeps the message as it was received.
func (s *Subscriber) handle(ctx context.Context, rec Message, m Meta, redrive bool) error {
	fn, ok := s.handlers[s.currentType(m.EventType)]
	if !ok {
		return nil // a type this subscriber does not react to
	}
	if !redrive && s.isParked(m.Stream) {
		return s.deadLetter(ctx, rec, m, "parked behind an earlier dead-lettered event of stream "+m.Stream, 0)
	}
	cur, payload, perr := s.prepare(m.EventType, rec.Value)
	if perr == nil {
		m.EventType = cur
	}
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval = s.cfg.RetryInitial, s.cfg.RetryMax
	var err error
	for m.Attempt = 1; ; m.Attempt++ {
		start := time.Now()
		m.Redriven = redrive
		if err = perr; err == nil {
			err = fn(ctx, payload, m)
		}
		if err == nil {
			if s.cfg.Hooks.Processed != nil {
				s.cfg.Hooks.Processed(m, time.Since(start))
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if s.cfg.Hooks.Failed != nil {
			s.cfg.Hooks.Failed(m, err)
		}
		if errors.Is(err, errUndecodable) || m.Attempt >= s.cfg.MaxAttempts {
			break
		}
		select {
		case <-time.After(b.NextBackOff()):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if redrive {
		return fmt.Errorf("redrive %s of %s: %w: %w", m.EventID, m.Stream, ErrStillFailing, err)
	}
	return s.deadLetter(ctx, rec, m, err.Error(), m.Attempt)
}

func (s *Subscriber) isParked(stream string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.parked[stream]
}

// deadLetter writes rec to "<name>.dlq" with the original key, value and
// headers plus the dead-letter headers, and parks its stream. It retries
// until the write is acknowledged or ctx ends: losing a dead letter would
// lose the event.
func (s *Subscriber) deadLetter(ctx context.Context, rec Message, m Meta, reason string, attempts int) error {
	h := make(map[string]string, len(rec.Headers)+4)
	for k, v := range rec.Headers {
		h[k] = v
	}
	h[HeaderDLQSubscriber] = s.name
	h[HeaderDLQError] = reason
	h[HeaderDLQAttempts] = fmt.Sprint(attempts)
	h[HeaderDLQAt] = time.Now().UTC().Format(time.RFC3339Nano)
	pm := &sarama.ProducerMessage{
		Topic:   DLQTopic(s.name),
		Key:     sarama.StringEncoder(rec.Key),
		Value:   sarama.ByteEncoder(rec.Value),
		Headers: recordHeaders(h),
	}
	if !rec.Timestamp.IsZero() {
		pm.Timestamp = rec.Timestamp
	}
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval = s.cfg.RetryInitial, s.cfg.RetryMax
	for {
		s.mu.Lock()
		_, _, err := s.dlq.SendMessage(pm)
		if err == nil && m.Stream != "" {
			s.parked[m.Stream] = true
		}
		s.mu.Unlock()
		if err == nil {
			break
		}
		s.cfg.Logger.Error("dead-letter write failed; retrying", "subscriber", s.name, "event", m.EventID, "err", err)
		select {
		case <-time.After(b.NextBackOff()):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if s.cfg.Hooks.DeadLettered != nil {
		s.cfg.Hooks.DeadLettered(m, reason)
	}
	s.cfg.Logger.Warn("event dead-lettered", "subscriber", s.name, "event", m.EventID, "type", m.EventType,
		"stream", m.Stream, "reason", reason)
	return nil
}
