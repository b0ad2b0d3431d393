package ports

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/troupe-dev/troupe/contexts/payments/adapters"
	"github.com/troupe-dev/troupe/contexts/payments/domain/payment"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

// RecoveryName is the checkpoint name of the recovery subscription.
// Renaming it re-examines every payment once (harmless, just slow).
const RecoveryName = "payments-payments"

// Settler drives an order's payment as far as it can go (capture intent,
// capture, refund); a no-op when nothing is left. app.Application.Settle
// satisfies it.
type Settler interface {
	Settle(ctx context.Context, orderID string) error
}

// RecoveryConfig configures a Recovery.
type RecoveryConfig struct {
	// EventStore is read through. Required.
	EventStore *esdb.Client
	// App settles payments. Required.
	App Settler
	// Checkpoints stores the position; default stream checkpoints in
	// EventStore.
	Checkpoints eventstore.CheckpointStore
	// Delay is how old a payment event must be before the recovery looks
	// at it: younger ones are being carried out by the policy that recorded
	// them, and a second driver would only add write conflicts. Default 2s.
	Delay time.Duration
	// RetryInitial and RetryMax bound the backoff between tries to settle
	// a payment that failed (the card gateway is down): it doubles from
	// RetryInitial up to RetryMax, and the recovery never gives up on it.
	// Defaults 200ms and 5s.
	RetryInitial, RetryMax time.Duration
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// Recovery finishes payments whose settlement was left unfinished: a
// capture intent without an outcome (a crash between the intent and the
// gateway's answer), or a capture followed by a known cancellation without
// a refund (the refund met a gateway outage longer than the subscriber's
// retries, so the cancellation went to payments.dlq). It is a catch-up
// subscription over the payments.payment- streams that, for each payment
// event that may leave work, settles that order's payment through the
// application (a no-op when it is finished). On start it catches up from its
// checkpoint, so everything a crashed process left is resumed; afterwards
// it trails live events by Delay as a safety net.
//
// A payment that does not settle (the gateway is down) is retried in the
// background with backoff until it does, logged at warn on every failure,
// without holding up the other payments; until then the checkpoint is not
// saved past the event that found it, so a restart examines it again.
// Every step keeps the application's guarantees: event ids derived per step
// and the gateway's idempotency key make a repeated refund act once.
type Recovery struct {
	cfg RecoveryConfig
	sub *eventstore.Subscription

	wake chan struct{}

	mu      sync.Mutex
	pending map[string]*pendingPayment
	last    esdb.Position // position of the last event handled, or the loaded checkpoint
	hasLast bool
	gen     uint64
}

// pendingPayment is a payment that failed to settle and is being retried.
type pendingPayment struct {
	// floor is the last position the checkpoint may be saved at while the
	// payment is pending: the one before the event that found it.
	floor    esdb.Position
	hasFloor bool
	attempts int
	next     time.Time
	gen      uint64
}

// NewRecovery returns a Recovery, or the config's validation error.
func NewRecovery(cfg RecoveryConfig) (*Recovery, error) {
	if cfg.EventStore == nil || cfg.App == nil {
		return nil, errors.New("payments recovery: EventStore and App are required")
	}
	if cfg.Checkpoints == nil {
		cfg.Checkpoints = eventstore.NewStreamCheckpoints(cfg.EventStore)
	}
	if cfg.Delay <= 0 {
		cfg.Delay = 2 * time.Second
	}
	if cfg.RetryInitial <= 0 {
		cfg.RetryInitial = 200 * time.Millisecond
	}
	if cfg.RetryMax < cfg.RetryInitial {
		cfg.RetryMax = max(5*time.Second, cfg.RetryInitial)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	r := &Recovery{cfg: cfg, wake: make(chan struct{}, 1), pending: map[string]*pendingPayment{}}
	sub, err := eventstore.NewSubscription(cfg.EventStore, eventstore.SubscriptionConfig{
		Name:        RecoveryName,
		Filter:      &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: []string{adapters.PaymentCategory + "-"}},
		Checkpoints: &holdingCheckpoints{r: r, inner: cfg.Checkpoints},
		Handler:     r.handle,
		Logger:      cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	r.sub = sub
	return r, nil
}

// Run settles payments until ctx ends; it returns nil then.
func (r *Recovery) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.retry(ctx)
	}()
	err := r.sub.Run(ctx)
	cancel()
	<-done
	return err
}

// CaughtUp is closed once every payment event recorded before Run was
// examined (payments that failed to settle are being retried).
func (r *Recovery) CaughtUp() <-chan struct{} { return r.sub.CaughtUp() }

// Pending returns how many payments are waiting for a retry to settle.
func (r *Recovery) Pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending)
}

func (r *Recovery) handle(ctx context.Context, ev eventstore.RecordedEvent) error {
	defer r.handled(ev.Position)
	switch ev.Type {
	case payment.TypePaymentFailed, payment.TypePaymentRefunded:
		return nil // final steps: nothing can be left after them
	}
	orderID := strings.TrimPrefix(ev.Stream, adapters.PaymentCategory+"-")
	if wait := time.Until(ev.Created.Add(r.cfg.Delay)); wait > 0 {
		if !sleep(ctx, min(wait, r.cfg.Delay)) {
			r.hold(orderID)
			return nil
		}
	}
	if err := r.cfg.App.Settle(ctx, orderID); err != nil {
		r.hold(orderID)
		if ctx.Err() == nil {
			r.cfg.Logger.WarnContext(ctx, "payments: settling a payment failed; retrying", "order", orderID, "error", err)
		}
	}
	return nil
}

// handled notes pos as the position of the last event handled.
func (r *Recovery) handled(pos esdb.Position) {
	r.mu.Lock()
	r.last, r.hasLast = pos, true
	r.mu.Unlock()
}

// hold adds orderID to the payments retried in the background (called
// while the subscription handles an event of it, before handled).
func (r *Recovery) hold(orderID string) {
	r.mu.Lock()
	r.gen++
	p, ok := r.pending[orderID]
	if !ok {
		p = &pendingPayment{floor: r.last, hasFloor: r.hasLast, attempts: 1}
		r.pending[orderID] = p
	}
	p.gen = r.gen
	p.next = time.Now().Add(r.backoff(p.attempts))
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *Recovery) backoff(attempts int) time.Duration {
	d := r.cfg.RetryInitial
	for i := 1; i < attempts && d < r.cfg.RetryMax; i++ {
		d *= 2
	}
	return min(d, r.cfg.RetryMax)
}

// retry settles pending payments when their backoff has passed, until ctx
// ends. A payment leaves the set only once it settled.
func (r *Recovery) retry(ctx context.Context) {
	for {
		now := time.Now()
		type due struct {
			order string
			gen   uint64
		}
		var (
			dues []due
			next time.Time
		)
		r.mu.Lock()
		for order, p := range r.pending {
			if !p.next.After(now) {
				dues = append(dues, due{order, p.gen})
			} else if next.IsZero() || p.next.Before(next) {
				next = p.next
			}
		}
		r.mu.Unlock()
		for _, d := range dues {
			err := r.cfg.App.Settle(ctx, d.order)
			if ctx.Err() != nil {
				return
			}
			r.mu.Lock()
			p := r.pending[d.order]
			switch {
			case p == nil:
			case err == nil && p.gen == d.gen:
				delete(r.pending, d.order)
			case err == nil:
				p.next = time.Now() // a newer event found it unsettled: look again
			default:
				p.attempts++
				p.next = time.Now().Add(r.backoff(p.attempts))
			}
			attempts := 0
			if p != nil {
				attempts = p.attempts
			}
			r.mu.Unlock()
			if err != nil {
				r.cfg.Logger.WarnContext(ctx, "payments: settling a payment failed; retrying", "order", d.order,
					"attempts", attempts, "error", err)
			} else {
				r.cfg.Logger.InfoContext(ctx, "payments: settled a payment after retries", "order", d.order)
			}
		}
		if len(dues) > 0 {
			continue
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = time.Until(next)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-r.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// floor returns the position the checkpoint may not pass, if any payment is
// pending: hold reports whether one is, has whether its floor is known
// (false: no position before it, so nothing may be saved).
func (r *Recovery) floor() (pos esdb.Position, has, hold bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.pending {
		switch {
		case !p.hasFloor:
			return esdb.Position{}, false, true
		case !hold || p.floor.Commit < pos.Commit || (p.floor.Commit == pos.Commit && p.floor.Prepare < pos.Prepare):
			pos, has, hold = p.floor, true, true
		}
	}
	return pos, has, hold
}

// holdingCheckpoints keeps the recovery's checkpoint before the first event
// of a payment still being retried, so a restart examines it again.
type holdingCheckpoints struct {
	r     *Recovery
	inner eventstore.CheckpointStore

	mu       sync.Mutex
	saved    esdb.Position
	hasSaved bool
}

func (h *holdingCheckpoints) Load(ctx context.Context, name string) (esdb.Position, bool, error) {
	pos, ok, err := h.inner.Load(ctx, name)
	if err == nil && ok {
		h.r.mu.Lock()
		if !h.r.hasLast {
			h.r.last, h.r.hasLast = pos, true
		}
		h.r.mu.Unlock()
	}
	return pos, ok, err
}

func (h *holdingCheckpoints) Save(ctx context.Context, name string, pos esdb.Position) error {
	floor, has, hold := h.r.floor()
	switch {
	case hold && !has:
		return nil
	case hold && (floor.Commit < pos.Commit || (floor.Commit == pos.Commit && floor.Prepare < pos.Prepare)):
		pos = floor
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.hasSaved && h.saved == pos {
		return nil // held at the same place: no write
	}
	if err := h.inner.Save(ctx, name, pos); err != nil {
		return err
	}
	h.saved, h.hasSaved = pos, true
	return nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
