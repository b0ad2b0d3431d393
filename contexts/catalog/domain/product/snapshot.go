package product

// Snapshot is a product's whole state, for the repository's snapshots: a
// hot product's stream grows by a few events per order, and folding it from
// the start on every write would slow each reservation down as it grows.
// Build a Product back from it only with FromSnapshot.
type Snapshot struct {
	Listed     bool
	Name       string
	PriceCents int64
	Currency   string
	Received   int64
	Available  int64
	Reserved   int64
	Committed  int64
	// Holds maps each order the product acted on to its quantity and
	// status ("reserved", "released", "committed" or "voided").
	Holds map[string]SnapshotHold
}

// SnapshotHold is one order's hold in a Snapshot.
type SnapshotHold struct {
	Quantity int64
	Status   string
}

var holdNames = map[holdStatus]string{holdReserved: "reserved", holdReleased: "released", holdCommitted: "committed", holdVoided: "voided"}

// Snapshot returns the product's state. Pending events are not part of it.
func (p *Product) Snapshot() Snapshot {
	s := Snapshot{Listed: p.listed, Name: p.name, PriceCents: p.priceCents, Currency: p.currency,
		Received: p.received, Available: p.available, Reserved: p.reserved, Committed: p.committed,
		Holds: make(map[string]SnapshotHold, len(p.holds))}
	for id, h := range p.holds {
		s.Holds[id] = SnapshotHold{Quantity: h.quantity, Status: holdNames[h.status]}
	}
	return s
}

// FromSnapshot rebuilds product sku from a Snapshot taken of it, with no
// pending events. It trusts the snapshot (it was folded from history), so
// it validates nothing; an unknown hold status is kept as voided, which
// never gives stock.
func FromSnapshot(sku string, s Snapshot) *Product {
	p := New(sku)
	p.listed, p.name, p.priceCents, p.currency = s.Listed, s.Name, s.PriceCents, s.Currency
	p.received, p.available, p.reserved, p.committed = s.Received, s.Available, s.Reserved, s.Committed
	for id, h := range s.Holds {
		st := holdVoided
		for k, name := range holdNames {
			if name == h.Status {
				st = k
			}
		}
		p.holds[id] = hold{quantity: h.Quantity, status: st}
	}
	return p
}
