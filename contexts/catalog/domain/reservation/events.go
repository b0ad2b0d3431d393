package reservation

// Requested: the intent to hold Lines for OrderID, because of the source
// event Cause.
type Requested struct {
	OrderID string
	Lines   []Line
	Cause   string
}

// Voided: OrderID was cancelled (source event Cause) before any
// reservation was requested.
type Voided struct {
	OrderID string
	Cause   string
}

// Reserved: every line of OrderID is held.
type Reserved struct {
	OrderID string
	Lines   []Line
}

// Failed: SKU could not be held for Reason; Lines are given back.
type Failed struct {
	OrderID string
	Reason  string
	SKU     string
	Lines   []Line
}

// Undone: a failed reservation gave back every line it held.
type Undone struct {
	OrderID string
}

// CommitStarted: OrderID was confirmed (source event Cause); its lines are
// being committed.
type CommitStarted struct {
	OrderID string
	Cause   string
}

// Committed: every line of OrderID is committed.
type Committed struct {
	OrderID string
	Lines   []Line
}

// ReleaseStarted: OrderID was cancelled (source event Cause); its lines are
// being released.
type ReleaseStarted struct {
	OrderID string
	Cause   string
}

// Released: every line of OrderID is released.
type Released struct {
	OrderID string
	Lines   []Line
}

// ApplyEvent folds one stored event into the state. It only changes state,
// never validates, so replay always succeeds.
func (r *Reservation) ApplyEvent(event any) { r.apply(event) }

// PendingEvents returns the events recorded since the reservation was loaded.
func (r *Reservation) PendingEvents() []any { return r.pending }

// ClearPendingEvents forgets the recorded events once they are saved, so
// the reservation can record the next ones.
func (r *Reservation) ClearPendingEvents() { r.pending = nil }

func (r *Reservation) record(e any) {
	r.apply(e)
	r.pending = append(r.pending, e)
}

func (r *Reservation) remember(cause string) {
	if cause != "" {
		r.causes[cause] = true
	}
}

func (r *Reservation) apply(event any) {
	switch e := event.(type) {
	case Requested:
		r.status, r.lines = StatusRequested, append([]Line(nil), e.Lines...)
		r.remember(e.Cause)
	case Voided:
		r.status = StatusVoided
		r.remember(e.Cause)
	case Reserved:
		r.status = StatusReserved
	case Failed:
		r.status, r.reason, r.sku = StatusFailed, e.Reason, e.SKU
	case Undone:
		r.undone = true
	case CommitStarted:
		r.status = StatusCommitting
		r.remember(e.Cause)
	case Committed:
		r.status = StatusCommitted
	case ReleaseStarted:
		r.status = StatusReleasing
		r.remember(e.Cause)
	case Released:
		r.status = StatusReleased
	}
}
