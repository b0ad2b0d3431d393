package app

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// Deadlines keeps the deadline of every order not yet final and expires
// each one when the clock reaches it. Whoever follows the order streams
// (from the beginning at start, so deadlines survive restarts) calls
// Schedule for each placed order and Forget for each final one. Safe for
// concurrent use; Run it once.
type Deadlines struct {
	app *App
	// poll bounds how long Run sleeps, so a test clock (Config.Now) that
	// jumps ahead is noticed.
	poll time.Duration

	mu     sync.Mutex
	byID   map[string]*deadline
	queue  deadlineQueue
	wakeup chan struct{}
}

type deadline struct {
	orderID string
	at      time.Time
	index   int
}

// NewDeadlines returns the deadline keeper of app; it sleeps at most poll
// between checks of the clock (default 1s when poll <= 0).
func NewDeadlines(app *App, poll time.Duration) *Deadlines {
	if poll <= 0 {
		poll = time.Second
	}
	return &Deadlines{app: app, poll: poll, byID: map[string]*deadline{}, wakeup: make(chan struct{}, 1)}
}

// Schedule sets (or moves) the deadline of orderID.
func (d *Deadlines) Schedule(orderID string, at time.Time) {
	d.mu.Lock()
	if dl, ok := d.byID[orderID]; ok {
		dl.at = at
		heap.Fix(&d.queue, dl.index)
	} else {
		dl := &deadline{orderID: orderID, at: at}
		d.byID[orderID] = dl
		heap.Push(&d.queue, dl)
	}
	d.mu.Unlock()
	select {
	case d.wakeup <- struct{}{}:
	default:
	}
}

// Forget drops the deadline of orderID (it was confirmed or cancelled).
func (d *Deadlines) Forget(orderID string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if dl, ok := d.byID[orderID]; ok {
		heap.Remove(&d.queue, dl.index)
		delete(d.byID, orderID)
	}
}

// Pending returns how many deadlines are kept.
func (d *Deadlines) Pending() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.byID)
}

// Run expires orders as their deadlines pass, until ctx ends (then nil). A
// failed expiry is tried again a second later.
func (d *Deadlines) Run(ctx context.Context) error {
	for {
		wait := d.poll
		for {
			orderID, at, ok := d.next()
			if !ok {
				break
			}
			now := d.app.cfg.Now()
			if now.Before(at) {
				wait = min(wait, at.Sub(now))
				break
			}
			d.expire(ctx, orderID)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-d.wakeup:
		case <-t.C:
		}
		t.Stop()
	}
}

func (d *Deadlines) next() (string, time.Time, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.queue) == 0 {
		return "", time.Time{}, false
	}
	return d.queue[0].orderID, d.queue[0].at, true
}

func (d *Deadlines) expire(ctx context.Context, orderID string) {
	at, done, err := d.app.ExpireOrder(ctx, orderID)
	switch {
	case err != nil:
		if ctx.Err() == nil {
			d.app.cfg.Logger.WarnContext(ctx, "ordering: expiring an order failed, retrying", "order", orderID, "error", err)
		}
		d.Schedule(orderID, d.app.cfg.Now().Add(time.Second))
	case done:
		d.Forget(orderID)
	default:
		// The stored deadline is later than the one scheduled.
		d.Schedule(orderID, at)
	}
}

// deadlineQueue is a min-heap of deadlines by time.
type deadlineQueue []*deadline

func (q deadlineQueue) Len() int           { return len(q) }
func (q deadlineQueue) Less(i, j int) bool { return q[i].at.Before(q[j].at) }
func (q deadlineQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}
func (q *deadlineQueue) Push(x any) {
	dl := x.(*deadline)
	dl.index = len(*q)
	*q = append(*q, dl)
}
func (q *deadlineQueue) Pop() any {
	old := *q
	dl := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return dl
}
