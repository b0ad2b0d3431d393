package model_test

// The encoding of events as it was before it was written without fmt and
// encoding/json (the reference TestEncodeEqualsReference compares with).

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/troupe-dev/troupe/projections/model"
	"github.com/troupe-dev/troupe/shared/events"
	"github.com/troupe-dev/troupe/shared/platform/readmodel"
)

// fieldSafe keeps identifiers out of the separators of packed members: it
// matches ^[A-Za-z0-9_.-]{1,64}$ (by hand: a regexp match was a tenth of a
// rebuild's decoding time).
func refFieldSafe(v string) bool {
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

func refCheck(name, v string) error {
	if !refFieldSafe(v) {
		return fmt.Errorf("%w: %s %q", model.ErrBadEvent, name, v)
	}
	return nil
}

func refShortType(t string) string {
	_, rest, _ := strings.Cut(t, ".")
	if i := strings.LastIndexByte(rest, '.'); i > 0 {
		rest = rest[:i]
	}
	return rest
}

// timelineMember sorts by (occurred-at, context, revision) as a string.
func refTimelineMember(e events.Event, src model.Source) string {
	return fmt.Sprintf("%019d|%s|%020d|%s", src.OccurredAt.UnixNano(), events.ContextOf(e.EventType()), src.Revision, refShortType(e.EventType()))
}

const refMaxMillis = 9999999999999

// customerMember sorts a customer's orders newest first, then by id.
func refCustomerMember(placedAt time.Time, orderID string) string {
	return fmt.Sprintf("%013d|%s", refMaxMillis-placedAt.UnixMilli(), orderID)
}

// walletMember sorts a wallet's transactions newest (highest revision) first.
func refWalletMember(kind string, amount, balance int64, orderID string, src model.Source) string {
	return fmt.Sprintf("%020d|%s|%d|%d|%s|%d", uint64(math.MaxUint64)-src.Revision, kind, amount, balance, orderID, src.OccurredAt.UnixMilli())
}

func refLines(ls []events.Line) ([]any, error) {
	out := []any{len(ls)}
	for _, l := range ls {
		if err := refCheck("sku", l.SKU); err != nil {
			return nil, err
		}
		out = append(out, l.SKU, l.Quantity)
	}
	return out, nil
}

// Encode turns an integration event into the applier's arguments. An event
// type the model does not project is model.ErrBadEvent too (the caller decides
// whether to skip it).
func refEncode(e events.Event, src model.Source) (readmodel.Event, error) {
	ev := readmodel.Event{Stream: src.Stream, Revision: src.Revision, Topic: src.Topic, Partition: src.Partition,
		Offset: src.Offset, OccurredAt: src.OccurredAt}
	args, err := refEncodeArgs(e, src)
	if err != nil {
		return ev, fmt.Errorf("%s %s@%d: %w", e.EventType(), src.Stream, src.Revision, err)
	}
	ev.Args = args
	return ev, nil
}

func refEncodeArgs(e events.Event, src model.Source) ([]any, error) {
	order := func(kind, orderID string, rest ...any) ([]any, error) {
		if err := refCheck("orderId", orderID); err != nil {
			return nil, err
		}
		return append([]any{kind, orderID, refTimelineMember(e, src)}, rest...), nil
	}
	cust := func(id string) error { return refCheck("customerId", id) }
	switch v := e.(type) {
	case events.ProductListed:
		if err := refCheck("sku", v.SKU); err != nil {
			return nil, err
		}
		return []any{"PL", v.SKU, v.Name, v.PriceCents, v.Currency}, nil
	case events.ProductRepriced:
		if err := refCheck("sku", v.SKU); err != nil {
			return nil, err
		}
		return []any{"PR", v.SKU, v.PriceCents, v.Currency}, nil
	case events.StockReceived:
		if err := refCheck("sku", v.SKU); err != nil {
			return nil, err
		}
		return []any{"SR", v.SKU, v.Quantity}, nil
	case events.StockReserved:
		ls, err := refLines(v.Lines)
		if err != nil {
			return nil, err
		}
		return order("SV", v.OrderID, ls...)
	case events.StockReleased:
		ls, err := refLines(v.Lines)
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
		js, err := json.Marshal(v.Lines)
		if err != nil {
			return nil, err
		}
		var enc strings.Builder
		for _, l := range v.Lines {
			if err := refCheck("sku", l.SKU); err != nil {
				return nil, err
			}
			if l.Quantity < 0 || l.UnitPriceCents < 0 {
				return nil, fmt.Errorf("%w: negative line", model.ErrBadEvent)
			}
			fmt.Fprintf(&enc, "%s %d %d;", l.SKU, l.Quantity, l.UnitPriceCents)
		}
		placed := v.PlacedAt
		if placed.IsZero() {
			placed = src.OccurredAt
		}
		return order("OP", v.OrderID, v.CustomerID, refCustomerMember(placed, v.OrderID), v.TotalCents, v.Currency,
			v.PaymentMethod, string(js), enc.String(), placed.UTC().Format(time.RFC3339Nano))
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
		return []any{"FD", v.CustomerID, refWalletMember("deposit", v.AmountCents, v.BalanceCents, "", src), v.BalanceCents}, nil
	case events.WalletDebited:
		if err := cust(v.CustomerID); err != nil {
			return nil, err
		}
		return order("WD", v.OrderID, v.CustomerID, refWalletMember("debit", v.AmountCents, v.BalanceCents, v.OrderID, src), v.BalanceCents)
	case events.WalletCredited:
		if err := cust(v.CustomerID); err != nil {
			return nil, err
		}
		return order("WC", v.OrderID, v.CustomerID, refWalletMember("credit", v.AmountCents, v.BalanceCents, v.OrderID, src), v.BalanceCents)
	case events.PaymentCaptured:
		return order("PC", v.OrderID, v.CustomerID, v.Method)
	case events.PaymentFailed:
		return order("PF", v.OrderID, v.CustomerID)
	case events.PaymentRefunded:
		return order("PX", v.OrderID, v.CustomerID)
	}
	return nil, fmt.Errorf("%w: type %T is not projected", model.ErrBadEvent, e)
}
