package model

import (
	"time"
	"unicode/utf8"

	"github.com/valyala/fastjson"

	"github.com/troupe-dev/troupe/shared/events"
)

// Decoder decodes integration events from their JSON payloads exactly as
// events.Registry.Decode does, but without reflection for the payloads
// producers write (json.Marshal of a current version). Such a payload is
// parsed once with fastjson and its fields copied into the event; any
// payload it is not sure of takes the registry's path: an older version
// (to upcast), a key that is not exactly one of the event's fields (an
// unknown, repeated or differently cased one), a null, a number that is
// not a plain integer, a value of another JSON type, an escape sequence,
// a control character or invalid UTF-8. So both paths give the same event,
// or the same error, for every payload (FuzzDecoderEqualsRegistry).
//
// A rebuild decodes every record of the history: reflection was half its
// decoding time. A Decoder is not safe for concurrent use: one per
// goroutine.
type Decoder struct {
	reg     *events.Registry
	current map[string]kind
	p       fastjson.Parser
	scratch []byte
}

// kind is an event type the Decoder decodes itself.
type kind uint8

const (
	kindNone kind = iota
	kindProductListed
	kindProductRepriced
	kindStockReceived
	kindStockReserved
	kindStockReservationFailed
	kindStockReleased
	kindStockCommitted
	kindOrderPlaced
	kindOrderConfirmed
	kindOrderCancelled
	kindFundsDeposited
	kindWalletDebited
	kindWalletCredited
	kindPaymentCaptured
	kindPaymentFailed
	kindPaymentRefunded
)

// NewDecoder returns a Decoder of every integration event type.
func NewDecoder() *Decoder {
	reg := events.NewRegistry()
	d := &Decoder{reg: reg, current: map[string]kind{}}
	for k, e := range map[kind]events.Event{
		kindProductListed: events.ProductListed{}, kindProductRepriced: events.ProductRepriced{},
		kindStockReceived: events.StockReceived{}, kindStockReserved: events.StockReserved{},
		kindStockReservationFailed: events.StockReservationFailed{}, kindStockReleased: events.StockReleased{},
		kindStockCommitted: events.StockCommitted{}, kindOrderPlaced: events.OrderPlaced{},
		kindOrderConfirmed: events.OrderConfirmed{}, kindOrderCancelled: events.OrderCancelled{},
		kindFundsDeposited: events.FundsDeposited{}, kindWalletDebited: events.WalletDebited{},
		kindWalletCredited: events.WalletCredited{}, kindPaymentCaptured: events.PaymentCaptured{},
		kindPaymentFailed: events.PaymentFailed{}, kindPaymentRefunded: events.PaymentRefunded{},
	} {
		// Only a type the registry decodes as itself (no upcast) is
		// decoded here.
		if cur, ok := reg.Current(e.EventType()); ok && cur == e.EventType() {
			d.current[cur] = k
		}
	}
	return d
}

// Decode returns the event a payload of eventType holds, as
// events.Registry.Decode would.
func (d *Decoder) Decode(eventType string, payload []byte) (events.Event, error) {
	if e := d.fast(eventType, payload); e != nil {
		return e, nil
	}
	return d.reg.Decode(eventType, payload)
}

// plain reports whether a payload has no escape sequence, no control
// character (so no whitespace but spaces) and is valid UTF-8: then each
// of its strings is its bytes, for fastjson as for encoding/json.
func plain(b []byte) bool {
	ascii := true
	for _, c := range b {
		if c < 0x20 || c == '\\' {
			return false
		}
		if c >= utf8.RuneSelf {
			ascii = false
		}
	}
	return ascii || utf8.Valid(b)
}

// fast decodes a payload it is sure of, or returns nil.
func (d *Decoder) fast(eventType string, payload []byte) events.Event {
	k := d.current[eventType]
	if k == kindNone || !plain(payload) {
		return nil
	}
	v, err := d.p.ParseBytes(payload)
	if err != nil {
		return nil
	}
	o, err := v.Object()
	if err != nil {
		return nil
	}
	r := fields{o: o, scratch: d.scratch}
	defer func() { d.scratch = r.scratch }()
	var e events.Event
	switch k {
	case kindProductListed:
		var x events.ProductListed
		r.str("sku", &x.SKU)
		r.str("name", &x.Name)
		r.int64("priceCents", &x.PriceCents)
		r.str("currency", &x.Currency)
		e = x
	case kindProductRepriced:
		var x events.ProductRepriced
		r.str("sku", &x.SKU)
		r.int64("priceCents", &x.PriceCents)
		r.str("currency", &x.Currency)
		e = x
	case kindStockReceived:
		var x events.StockReceived
		r.str("sku", &x.SKU)
		r.int("quantity", &x.Quantity)
		e = x
	case kindStockReserved:
		var x events.StockReserved
		r.str("orderId", &x.OrderID)
		r.lines("lines", &x.Lines)
		e = x
	case kindStockReservationFailed:
		var x events.StockReservationFailed
		r.str("orderId", &x.OrderID)
		r.str("reason", &x.Reason)
		r.str("sku", &x.SKU)
		e = x
	case kindStockReleased:
		var x events.StockReleased
		r.str("orderId", &x.OrderID)
		r.lines("lines", &x.Lines)
		e = x
	case kindStockCommitted:
		var x events.StockCommitted
		r.str("orderId", &x.OrderID)
		r.lines("lines", &x.Lines)
		e = x
	case kindOrderPlaced:
		var x events.OrderPlaced
		r.str("orderId", &x.OrderID)
		r.str("customerId", &x.CustomerID)
		r.pricedLines("lines", &x.Lines)
		r.int64("totalCents", &x.TotalCents)
		r.str("currency", &x.Currency)
		r.str("paymentMethod", &x.PaymentMethod)
		r.time("placedAt", &x.PlacedAt)
		r.address("shippingAddress", &x.ShippingAddress)
		e = x
	case kindOrderConfirmed:
		var x events.OrderConfirmed
		r.str("orderId", &x.OrderID)
		r.str("customerId", &x.CustomerID)
		r.int64("totalCents", &x.TotalCents)
		e = x
	case kindOrderCancelled:
		var x events.OrderCancelled
		r.str("orderId", &x.OrderID)
		r.str("customerId", &x.CustomerID)
		r.str("reason", &x.Reason)
		e = x
	case kindFundsDeposited:
		var x events.FundsDeposited
		r.str("customerId", &x.CustomerID)
		r.int64("amountCents", &x.AmountCents)
		r.int64("balanceCents", &x.BalanceCents)
		e = x
	case kindWalletDebited:
		var x events.WalletDebited
		r.str("customerId", &x.CustomerID)
		r.str("orderId", &x.OrderID)
		r.int64("amountCents", &x.AmountCents)
		r.int64("balanceCents", &x.BalanceCents)
		e = x
	case kindWalletCredited:
		var x events.WalletCredited
		r.str("customerId", &x.CustomerID)
		r.str("orderId", &x.OrderID)
		r.int64("amountCents", &x.AmountCents)
		r.int64("balanceCents", &x.BalanceCents)
		e = x
	case kindPaymentCaptured:
		var x events.PaymentCaptured
		r.str("orderId", &x.OrderID)
		r.str("customerId", &x.CustomerID)
		r.str("paymentId", &x.PaymentID)
		r.int64("amountCents", &x.AmountCents)
		r.str("method", &x.Method)
		e = x
	case kindPaymentFailed:
		var x events.PaymentFailed
		r.str("orderId", &x.OrderID)
		r.str("customerId", &x.CustomerID)
		r.str("reason", &x.Reason)
		e = x
	case kindPaymentRefunded:
		var x events.PaymentRefunded
		r.str("orderId", &x.OrderID)
		r.str("customerId", &x.CustomerID)
		r.int64("amountCents", &x.AmountCents)
		e = x
	}
	if !r.done() {
		return nil
	}
	return e
}

// fields reads the fields of one JSON object. Missing fields keep their
// zero value (as encoding/json leaves them); anything the Decoder is not
// sure of marks the object bad.
type fields struct {
	o       *fastjson.Object
	found   int
	bad     bool
	scratch []byte
}

// done reports whether every key of the object was one field, read well:
// as many keys as fields found means no other key and no repeated one.
func (r *fields) done() bool { return !r.bad && r.found == r.o.Len() }

func (r *fields) get(key string) *fastjson.Value {
	v := r.o.Get(key)
	if v != nil {
		r.found++
	}
	return v
}

func (r *fields) str(key string, dst *string) {
	if v := r.get(key); v != nil {
		r.strValue(v, dst)
	}
}

func (r *fields) strValue(v *fastjson.Value, dst *string) {
	if v.Type() != fastjson.TypeString {
		r.bad = true
		return
	}
	b, _ := v.StringBytes()
	*dst = string(b)
}

func (r *fields) int64(key string, dst *int64) {
	if v := r.get(key); v != nil {
		*dst = r.intValue(v)
	}
}

func (r *fields) int(key string, dst *int) {
	if v := r.get(key); v != nil {
		*dst = int(r.intValue(v))
	}
}

// intValue reads a plain JSON integer (-?(0|[1-9][0-9]*)) in range, what
// encoding/json accepts for an integer field.
func (r *fields) intValue(v *fastjson.Value) int64 {
	if v.Type() != fastjson.TypeNumber {
		r.bad = true
		return 0
	}
	raw := v.MarshalTo(r.scratch[:0])
	r.scratch = raw
	digits := raw
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 || (digits[0] == '0' && len(digits) > 1) {
		r.bad = true
		return 0
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			r.bad = true
			return 0
		}
	}
	n, err := v.Int64()
	if err != nil {
		r.bad = true
	}
	return n
}

func (r *fields) time(key string, dst *time.Time) {
	v := r.get(key)
	if v == nil {
		return
	}
	if v.Type() != fastjson.TypeString {
		r.bad = true
		return
	}
	b, _ := v.StringBytes()
	r.scratch = append(append(append(r.scratch[:0], '"'), b...), '"')
	if err := dst.UnmarshalJSON(r.scratch); err != nil {
		r.bad = true
	}
}

// object returns the fields of a JSON object value, or false (marking r
// bad) for any other value.
func (r *fields) object(v *fastjson.Value) (fields, bool) {
	o, err := v.Object()
	if err != nil {
		r.bad = true
		return fields{}, false
	}
	return fields{o: o, scratch: r.scratch}, true
}

// array returns the values of a JSON array, or marks r bad.
func (r *fields) array(key string) ([]*fastjson.Value, bool) {
	v := r.get(key)
	if v == nil {
		return nil, false
	}
	a, err := v.Array()
	if err != nil {
		r.bad = true
		return nil, false
	}
	return a, true
}

// sub ends reading a nested object into r.
func (r *fields) sub(s *fields) {
	r.scratch = s.scratch
	if !s.done() {
		r.bad = true
	}
}

func (r *fields) lines(key string, dst *[]events.Line) {
	a, ok := r.array(key)
	if !ok {
		return
	}
	out := make([]events.Line, len(a))
	for i, v := range a {
		s, ok := r.object(v)
		if !ok {
			return
		}
		s.str("sku", &out[i].SKU)
		s.int("quantity", &out[i].Quantity)
		r.sub(&s)
	}
	*dst = out
}

func (r *fields) pricedLines(key string, dst *[]events.PricedLine) {
	a, ok := r.array(key)
	if !ok {
		return
	}
	out := make([]events.PricedLine, len(a))
	for i, v := range a {
		s, ok := r.object(v)
		if !ok {
			return
		}
		s.str("sku", &out[i].SKU)
		s.int("quantity", &out[i].Quantity)
		s.int64("unitPriceCents", &out[i].UnitPriceCents)
		r.sub(&s)
	}
	*dst = out
}

func (r *fields) address(key string, dst **events.ShippingAddress) {
	v := r.get(key)
	if v == nil || v.Type() == fastjson.TypeNull {
		return
	}
	s, ok := r.object(v)
	if !ok {
		return
	}
	a := &events.ShippingAddress{}
	s.str("recipient", &a.Recipient)
	s.str("line1", &a.Line1)
	s.str("line2", &a.Line2)
	s.str("city", &a.City)
	s.str("postalCode", &a.PostalCode)
	s.str("country", &a.Country)
	r.sub(&s)
	*dst = a
}
