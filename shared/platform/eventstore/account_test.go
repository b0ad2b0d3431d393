package eventstore_test

import (
	"encoding/json"
	"errors"

	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

// account is a domain aggregate as a context would write one: stdlib only,
// unexported state, public methods that validate then record, an
// unexported applier, and causation ids remembered so a repeat is ignored.

type accountOpened struct{ Owner string }

type moneyDeposited struct {
	Amount int
	Source string
}

var (
	errAlreadyOpen = errors.New("account already open")
	errNotOpen     = errors.New("account not open")
	errBadAmount   = errors.New("amount must be positive")
)

type account struct {
	id      string
	owner   string
	balance int
	sources map[string]bool
	pending []any
	applied int // ApplyEvent calls since construction: how much was folded
}

func newAccount(id string) *account {
	return &account{id: id, sources: map[string]bool{}}
}

func (a *account) Open(owner string) error {
	if a.owner != "" {
		return errAlreadyOpen
	}
	a.record(accountOpened{Owner: owner})
	return nil
}

func (a *account) Deposit(amount int, source string) error {
	if a.owner == "" {
		return errNotOpen
	}
	if amount <= 0 {
		return errBadAmount
	}
	if source != "" && a.sources[source] {
		return nil
	}
	a.record(moneyDeposited{Amount: amount, Source: source})
	return nil
}

func (a *account) record(e any) {
	a.apply(e)
	a.pending = append(a.pending, e)
}

func (a *account) apply(e any) {
	switch e := e.(type) {
	case accountOpened:
		a.owner = e.Owner
	case moneyDeposited:
		a.balance += e.Amount
		if e.Source != "" {
			a.sources[e.Source] = true
		}
	}
}

func (a *account) ApplyEvent(e any) {
	a.applied++
	a.apply(e)
}

func (a *account) PendingEvents() []any { return a.pending }

func (a *account) ClearPendingEvents() { a.pending = nil }

// The adapter's side: event names, and the snapshot mapping that needs to
// see the unexported state (in a context, an UnmarshalFromDatabase-style
// constructor in the domain).

func accountEvents() *eventstore.Registry {
	r := eventstore.NewRegistry()
	eventstore.Register[accountOpened](r, "test.account.opened")
	eventstore.Register[moneyDeposited](r, "test.account.deposited")
	return r
}

type accountSnapshot struct {
	Owner   string          `json:"owner"`
	Balance int             `json:"balance"`
	Sources map[string]bool `json:"sources"`
}

func marshalAccount(a *account) ([]byte, error) {
	return json.Marshal(accountSnapshot{Owner: a.owner, Balance: a.balance, Sources: a.sources})
}

func unmarshalAccount(id string, data []byte) (*account, error) {
	var s accountSnapshot
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, err
	}
	a := newAccount(id)
	a.owner, a.balance = s.Owner, s.Balance
	for k, v := range s.Sources {
		a.sources[k] = v
	}
	return a, nil
}

// state is what tests compare: everything but the bookkeeping.
func (a *account) state() accountSnapshot {
	return accountSnapshot{Owner: a.owner, Balance: a.balance, Sources: a.sources}
}
