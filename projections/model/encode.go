// Package model is the projections read model: products with available
// stock, orders with a cross-context timeline, each customer's orders and
// wallet, and sales statistics, kept in Redis under a readmodel.Namespace.
//
// Events are applied exactly once per source stream revision by one Lua
// script (apply.lua); every effect commutes or goes by precedence, so the
// state does not depend on how different streams interleave. Queries read
// through the namespace's alias in one atomic script, so a blue-green
// switch is never seen half-done.
package model

import (
	_ "embed"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/troupe-dev/troupe/shared/events"
	"github.com/troupe-dev/troupe/shared/platform/readmodel"
)

//go:embed apply.lua
var applyBody string

// ErrBadEvent marks an event that cannot be projected (a malformed field);
// retrying it cannot help.
var ErrBadEvent = errors.New("event cannot be projected")

// Model is the projections read model in one Redis namespace. It is
// immutable and safe for concurrent use.
type Model struct {
	ns      readmodel.Namespace
	applier *readmodel.Applier
	read    *redis.Script
}

// New returns the model whose keys live under root (e.g.
// "troupe:rm:projections:").
func New(root string) *Model {
	ns := readmodel.Namespace{Root: root}
	return &Model{ns: ns, applier: readmodel.NewApplier(ns, applyBody), read: redis.NewScript(readScript)}
}

// Namespace returns the model's namespace.
func (m *Model) Namespace() readmodel.Namespace { return m.ns }

// Applier returns the model's exactly-once applier.
func (m *Model) Applier() *readmodel.Applier { return m.applier }

// Source says where an event comes from.
type Source struct {
	Stream     string
	Revision   uint64
	OccurredAt time.Time
	Topic      string
	Partition  int32
	Offset     int64
}

// projected lists the stream prefixes this model projects, by context.
var projected = []string{"catalog.product-", "catalog.reservation-", "ordering.order-", "payments.payment-", "payments.wallet-"}

var streamID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Projects reports whether the model projects stream, so a consistency
// token naming it can be waited for.
func Projects(stream string) bool {
	for _, p := range projected {
		if id, ok := strings.CutPrefix(stream, p); ok {
			return streamID.MatchString(id)
		}
	}
	return false
}

// fieldSafe keeps identifiers out of the separators of packed members: it
// matches ^[A-Za-z0-9_.-]{1,64}$ (by hand: a regexp match was a tenth of a
// rebuild's decoding time).
func fieldSafe(v string) bool {
	if len(v) < 1 || len(v) > 64 {
		return false
	}
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '.', c == '-':
		default:
			return false
		}
	}
	return true
}

func check(name, v string) error {
	if !fieldSafe(v) {
		return fmt.Errorf("%w: %s %q", ErrBadEvent, name, v)
	}
	return nil
}

func shortType(t string) string {
	_, rest, _ := strings.Cut(t, ".")
	if i := strings.LastIndexByte(rest, '.'); i > 0 {
		rest = rest[:i]
	}
	return rest
}

// timelineMember sorts by (occurred-at, context, revision) as a string:
// "%019d|%s|%020d|%s" of the occurred-at in ns, the context, the revision
// and the short type (written without fmt: a rebuild builds one per order
// event).
func timelineMember(e events.Event, src Source) string {
	var buf [96]byte
	t := e.EventType()
	b := appendPadded(buf[:0], src.OccurredAt.UnixNano(), 19)
	b = append(append(b, '|'), events.ContextOf(t)...)
	b = appendPaddedUint(append(b, '|'), src.Revision, 20)
	b = append(append(b, '|'), shortType(t)...)
	return string(b)
}

const maxMillis = 9999999999999

// customerMember sorts a customer's orders newest first, then by id
// ("%013d|%s").
func customerMember(placedAt time.Time, orderID string) string {
	var buf [96]byte
	b := appendPadded(buf[:0], maxMillis-placedAt.UnixMilli(), 13)
	return string(append(append(b, '|'), orderID...))
}

// walletMember sorts a wallet's transactions newest (highest revision)
// first ("%020d|%s|%d|%d|%s|%d").
func walletMember(kind string, amount, balance int64, orderID string, src Source) string {
	var buf [160]byte
	b := appendPaddedUint(buf[:0], uint64(math.MaxUint64)-src.Revision, 20)
	b = append(append(b, '|'), kind...)
	b = strconv.AppendInt(append(b, '|'), amount, 10)
	b = strconv.AppendInt(append(b, '|'), balance, 10)
	b = append(append(b, '|'), orderID...)
	b = strconv.AppendInt(append(b, '|'), src.OccurredAt.UnixMilli(), 10)
	return string(b)
}

// appendPadded appends n as fmt's %0<width>d does: the sign, then zeros
// up to width in all.
func appendPadded(b []byte, n int64, width int) []byte {
	u := uint64(n)
	if n < 0 {
		b = append(b, '-')
		u = -u
		width--
	}
	return appendPaddedUint(b, u, width)
}

func appendPaddedUint(b []byte, u uint64, width int) []byte {
	var digits [20]byte
	d := strconv.AppendUint(digits[:0], u, 10)
	for i := len(d); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, d...)
}

func lines(ls []events.Line) ([]any, error) {
	out := make([]any, 1, 1+2*len(ls))
	out[0] = len(ls)
	for _, l := range ls {
		if err := check("sku", l.SKU); err != nil {
			return nil, err
		}
		out = append(out, l.SKU, l.Quantity)
	}
	return out, nil
}

// Encode turns an integration event into the applier's arguments. An event
// type the model does not project is ErrBadEvent too (the caller decides
// whether to skip it).
func Encode(e events.Event, src Source) (readmodel.Event, error) {
	ev := readmodel.Event{Stream: src.Stream, Revision: src.Revision, Topic: src.Topic, Partition: src.Partition,
		Offset: src.Offset, OccurredAt: src.OccurredAt}
	args, err := encodeArgs(e, src)
	if err != nil {
		return ev, fmt.Errorf("%s %s@%d: %w", e.EventType(), src.Stream, src.Revision, err)
	}
	ev.Args = args
	return ev, nil
}

func encodeArgs(e events.Event, src Source) ([]any, error) {
	order := func(kind, orderID string, rest ...any) ([]any, error) {
		if err := check("orderId", orderID); err != nil {
			return nil, err
		}
		out := make([]any, 3, 3+len(rest))
		out[0], out[1], out[2] = kind, orderID, timelineMember(e, src)
		return append(out, rest...), nil
	}
	cust := func(id string) error { return check("customerId", id) }
	switch v := e.(type) {
	case events.ProductListed:
		if err := check("sku", v.SKU); err != nil {
			return nil, err
		}
		return []any{"PL", v.SKU, v.Name, v.PriceCents, v.Currency}, nil
	case events.ProductRepriced:
		if err := check("sku", v.SKU); err != nil {
			return nil, err
		}
		return []any{"PR", v.SKU, v.PriceCents, v.Currency}, nil
	case events.StockReceived:
		if err := check("sku", v.SKU); err != nil {
			return nil, err
		}
		return []any{"SR", v.SKU, v.Quantity}, nil
	case events.StockReserved:
		ls, err := lines(v.Lines)
		if err != nil {
			return nil, err
		}
		return order("SV", v.OrderID, ls...)
	case events.StockReleased:
		ls, err := lines(v.Lines)
		if err != nil {
			return nil, err
		}
		return order("SL", v.OrderID, ls...)
	case events.StockCommitted:
		return order("SC", v.OrderID)
	case events.StockReservationFailed:
		return order("SF", v.OrderID)
	case events.OrderPlaced:
		if err := cust(v.CustomerID); err != nil {
			return nil, err
		}
		// The lines as json.Marshal writes them (no SKU needs escaping once
		// checked), and packed for the sales ("sku qty price;" each).
		js, enc := []byte("null"), make([]byte, 0, 24*len(v.Lines))
		if v.Lines != nil {
			js = append(make([]byte, 0, 56*len(v.Lines)+2), '[')
		}
		for i, l := range v.Lines {
			if err := check("sku", l.SKU); err != nil {
				return nil, err
			}
			if l.Quantity < 0 || l.UnitPriceCents < 0 {
				return nil, fmt.Errorf("%w: negative line", ErrBadEvent)
			}
			if i > 0 {
				js = append(js, ',')
			}
			js = append(append(js, `{"sku":"`...), l.SKU...)
			js = strconv.AppendInt(append(js, `","quantity":`...), int64(l.Quantity), 10)
			js = strconv.AppendInt(append(js, `,"unitPriceCents":`...), l.UnitPriceCents, 10)
			js = append(js, '}')
			enc = append(append(enc, l.SKU...), ' ')
			enc = strconv.AppendInt(enc, int64(l.Quantity), 10)
			enc = strconv.AppendInt(append(enc, ' '), l.UnitPriceCents, 10)
			enc = append(enc, ';')
		}
		if v.Lines != nil {
			js = append(js, ']')
		}
		placed := v.PlacedAt
		if placed.IsZero() {
			placed = src.OccurredAt
		}
		return order("OP", v.OrderID, v.CustomerID, customerMember(placed, v.OrderID), v.TotalCents, v.Currency,
			v.PaymentMethod, string(js), string(enc), placed.UTC().Format(time.RFC3339Nano))
	case events.OrderConfirmed:
		if err := cust(v.CustomerID); err != nil {
			return nil, err
		}
		return order("OC", v.OrderID, v.CustomerID, v.TotalCents)
	case events.OrderCancelled:
		if err := cust(v.CustomerID); err != nil {
			return nil, err
		}
		return order("OX", v.OrderID, v.CustomerID, v.Reason)
	case events.FundsDeposited:
		if err := cust(v.CustomerID); err != nil {
			return nil, err
		}
		return []any{"FD", v.CustomerID, walletMember("deposit", v.AmountCents, v.BalanceCents, "", src), v.BalanceCents}, nil
	case events.WalletDebited:
		if err := cust(v.CustomerID); err != nil {
			return nil, err
		}
		return order("WD", v.OrderID, v.CustomerID, walletMember("debit", v.AmountCents, v.BalanceCents, v.OrderID, src), v.BalanceCents)
	case events.WalletCredited:
		if err := cust(v.CustomerID); err != nil {
			return nil, err
		}
		return order("WC", v.OrderID, v.CustomerID, walletMember("credit", v.AmountCents, v.BalanceCents, v.OrderID, src), v.BalanceCents)
	case events.PaymentCaptured:
		return order("PC", v.OrderID, v.CustomerID, v.Method)
	case events.PaymentFailed:
		return order("PF", v.OrderID, v.CustomerID)
	case events.PaymentRefunded:
		return order("PX", v.OrderID, v.CustomerID)
	}
	return nil, fmt.Errorf("%w: type %T is not projected", ErrBadEvent, e)
}
