package wallet

import "sort"

// View is a copy of a wallet's whole state, for tools that show an
// aggregate as it was (`troupe replay stream --state`). It shares nothing
// with the wallet: changing it changes nothing.
type View struct {
	CustomerID   string
	BalanceCents int64
	// Deposits are the deposit ids paid in, sorted.
	Deposits []string
	// IdempotencyKeys maps each client idempotency key to the deposit it
	// made.
	IdempotencyKeys map[string]string
	// Debits maps each payment the wallet paid to its amount.
	Debits map[string]int64
	// Refused are the payments the wallet refused to pay, sorted.
	Refused []string
	// Credits are the payments given back, sorted.
	Credits []string
}

// View returns the wallet's state. Pending events are part of it (they are
// applied when recorded).
func (w *Wallet) View() View {
	v := View{
		CustomerID:      w.customerID,
		BalanceCents:    w.balance,
		Deposits:        sortedKeys(w.deposits),
		IdempotencyKeys: make(map[string]string, len(w.keys)),
		Debits:          make(map[string]int64, len(w.debits)),
		Refused:         sortedKeys(w.refused),
		Credits:         sortedKeys(w.credits),
	}
	for k, d := range w.keys {
		v.IdempotencyKeys[k] = d.depositID
	}
	for id, amount := range w.debits {
		v.Debits[id] = amount
	}
	return v
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k, ok := range m {
		if ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
