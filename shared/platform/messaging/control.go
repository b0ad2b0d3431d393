package messaging

import (
	"context"
	"errors"
	"sync"
)

// State is where a Subscriber is in its life.
type State string

// The states a Subscriber reports.
const (
	// StateStopped: Run is not running (not started yet, or returned).
	StateStopped State = "stopped"
	// StateRunning: Run is consuming as a member of the group.
	StateRunning State = "running"
	// StatePaused: Run is running but has left the group until Resume.
	StatePaused State = "paused"
)

// ErrNotRunning is returned by Pause when Run is not running in this
// process.
var ErrNotRunning = errors.New("subscriber is not running")

// ErrPaused is returned by Pause when the subscriber is already paused (by
// another caller, who will resume it).
var ErrPaused = errors.New("subscriber is already paused")

// control is the run state of a Subscriber. Run owns the sessions (one
// group membership each); Pause ends the current one and waits until it
// has left the group; Resume lets Run start the next.
type control struct {
	mu      sync.Mutex
	state   State
	cancel  context.CancelFunc // ends the current session
	left    chan struct{}      // closed when the current session has ended
	resumed chan struct{}      // closed by Resume
}

func (c *control) start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == StateRunning || c.state == StatePaused {
		return errors.New("Run is already running")
	}
	c.state = StateRunning
	return nil
}

func (c *control) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.state = StateStopped
	c.cancel = nil
}

// session returns the context of one group membership, which a Pause
// cancels, and the function Run calls once the membership has ended. It
// reports false, starting nothing, while the subscriber is paused: a Pause
// that found no session running must not have one start behind it.
func (c *control) session(ctx context.Context) (context.Context, func(), bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == StatePaused {
		return nil, nil, false
	}
	sctx, cancel := context.WithCancel(ctx)
	left := make(chan struct{})
	c.cancel, c.left = cancel, left
	return sctx, func() {
		cancel()
		c.mu.Lock()
		c.cancel, c.left = nil, nil
		c.mu.Unlock()
		close(left)
	}, true
}

// awaitResume blocks while paused; it reports false when ctx ended first.
func (c *control) awaitResume(ctx context.Context) bool {
	c.mu.Lock()
	resumed := c.resumed
	paused := c.state == StatePaused
	c.mu.Unlock()
	if !paused {
		return ctx.Err() == nil
	}
	select {
	case <-resumed:
		return true
	case <-ctx.Done():
		return false
	}
}

func (c *control) get() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == "" {
		return StateStopped
	}
	return c.state
}

// State reports whether the subscriber is running, paused or stopped in
// this process. It is safe for concurrent use.
func (s *Subscriber) State() State { return s.ctl.get() }

// Pause makes a running subscriber leave its consumer group without Run
// returning: in-flight handlers are cancelled (their events stay
// uncommitted and are delivered again after Resume, so delivery stays
// at-least-once and in order per stream), what was processed is
// committed, and Pause returns once the group membership has ended. It
// fails with ErrNotRunning when Run is not running, and ErrPaused when the
// subscriber is paused already. If ctx ends first the subscriber still
// pauses; call Resume to undo it.
func (s *Subscriber) Pause(ctx context.Context) error {
	c := &s.ctl
	c.mu.Lock()
	switch c.state {
	case StatePaused:
		c.mu.Unlock()
		return ErrPaused
	case StateRunning:
	default:
		c.mu.Unlock()
		return ErrNotRunning
	}
	c.state = StatePaused
	c.resumed = make(chan struct{})
	cancel, left := c.cancel, c.left
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	if left == nil {
		return nil
	}
	select {
	case <-left:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Resume lets a paused subscriber rejoin its group, where it continues
// from the group's committed offsets. It does nothing unless paused.
func (s *Subscriber) Resume() {
	c := &s.ctl
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != StatePaused {
		return
	}
	c.state = StateRunning
	close(c.resumed)
}
