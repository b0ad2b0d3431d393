// Package service runs Troupe's webhook subscribers: each configured
// webhook is an SDK subscriber of its own (consumer group webhook-<name>)
// that POSTs the event types it names to its URL, signed (see package
// webhook for the receiver's side). Other programs (troupe up, troupe serve
// webhook) run it through New, Run and Ready.
//
// Guarantees are the SDK's: at-least-once delivery (a receiver drops
// repeats by the envelope's id), one event of a stream at a time and in
// order, retries with exponential backoff, then the dead-letter topic
// webhook-<name>.dlq, behind which the stream's later events are parked
// until a redrive. Webhooks are independent: one failing receiver never
// delays another.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/troupe-dev/troupe/shared/platform/messaging"
)

// Config configures the webhook service. Zero fields take the defaults
// documented on each.
type Config struct {
	// Brokers is the Kafka bootstrap list. Required.
	Brokers []string
	// Webhooks to run (see ParseConfig, LoadConfig). Required.
	Webhooks []Webhook
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Timeout bounds one POST; default 10 s.
	Timeout time.Duration
	// HTTPClient defaults to a client with Timeout that does not follow
	// redirects (a redirect is not an acknowledgement).
	HTTPClient *http.Client
	// MaxAttempts is how many POSTs an event gets before it is
	// dead-lettered; default 8. RetryInitial and RetryMax bound the
	// backoff between them; defaults 500 ms and 30 s.
	MaxAttempts  int
	RetryInitial time.Duration
	RetryMax     time.Duration
	// Sarama returns the client configuration of a subscriber; default
	// messaging.NewSaramaConfig.
	Sarama func(name string) *sarama.Config
	// Now is the clock the signature's t comes from; default time.Now.
	Now func() time.Time
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{
			Timeout:       c.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 8
	}
	if c.RetryInitial == 0 {
		c.RetryInitial = 500 * time.Millisecond
	}
	if c.RetryMax == 0 {
		c.RetryMax = 30 * time.Second
	}
	if c.Sarama == nil {
		c.Sarama = messaging.NewSaramaConfig
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports a configuration that cannot work.
func (c *Config) Validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("webhook: no Kafka brokers")
	}
	if len(c.Webhooks) == 0 {
		return errors.New("webhook: no webhooks configured (" + EnvWebhooks + " or a file)")
	}
	return ValidateAll(c.Webhooks)
}

// Service forwards events to every configured webhook. Its methods are safe
// for concurrent use; Run is called once.
type Service struct {
	cfg     Config
	subs    []*messaging.Subscriber
	byName  map[string]*messaging.Subscriber
	running atomic.Bool
}

// New builds the service; it does not connect to Kafka until Run.
func New(cfg Config) (*Service, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, byName: map[string]*messaging.Subscriber{}}
	for _, w := range cfg.Webhooks {
		sub, err := messaging.NewSubscriber(w.Group(), messaging.SubscriberConfig{
			Brokers: cfg.Brokers, Sarama: cfg.Sarama(w.Group()), Topics: w.Topics,
			MaxAttempts: cfg.MaxAttempts, RetryInitial: cfg.RetryInitial, RetryMax: cfg.RetryMax,
			Logger: cfg.Logger.With("webhook", w.Name),
		})
		if err != nil {
			return nil, fmt.Errorf("webhook %s: %w", w.Name, err)
		}
		p := &poster{hook: w, client: cfg.HTTPClient, cfg: &s.cfg}
		for _, t := range w.Types {
			messaging.HandleRaw(sub, t, p.post)
		}
		s.subs = append(s.subs, sub)
		s.byName[w.Name] = sub
	}
	return s, nil
}

// Subscriber returns the SDK subscriber of the named webhook (for lag,
// dead letters and redrive), or nil.
func (s *Service) Subscriber(name string) *messaging.Subscriber { return s.byName[name] }

// Subscribers returns one subscriber per configured webhook, in the order
// configured (for the admin API). A reset of one re-sends what it had
// delivered from the new offsets on: receivers drop repeats by the
// envelope's id.
func (s *Service) Subscribers() []*messaging.Subscriber {
	return append([]*messaging.Subscriber(nil), s.subs...)
}

// Run forwards events until ctx ends and returns nil after a clean stop.
// If one webhook's subscriber fails, the others are stopped and its error
// returned.
func (s *Service) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(s.subs))
	var wg sync.WaitGroup
	for i, sub := range s.subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := sub.Run(ctx); err != nil {
				errs[i] = err
				cancel()
			}
		}()
	}
	s.running.Store(true)
	wg.Wait()
	s.running.Store(false)
	return errors.Join(errs...)
}

// Ready reports whether the subscribers are running. It does no I/O.
func (s *Service) Ready() error {
	if !s.running.Load() {
		return errors.New("webhook: not running")
	}
	return nil
}
