package model_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/troupe-dev/troupe/projections/internal/scenario"
	"github.com/troupe-dev/troupe/projections/model"
	"github.com/troupe-dev/troupe/shared/events"
)

// sameDecode checks the Decoder gives what the registry gives for one
// payload: the same event, or an error when it errs.
func sameDecode(t *testing.T, d *model.Decoder, reg *events.Registry, typ string, payload []byte) {
	t.Helper()
	want, werr := reg.Decode(typ, payload)
	got, gerr := d.Decode(typ, payload)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("%s %q: registry error %v, decoder error %v", typ, payload, werr, gerr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s %q: registry %#v, decoder %#v", typ, payload, want, got)
	}
}

// decodeSeeds are payloads the Decoder must defer or decode like the
// registry: keys cased otherwise, unknown or repeated, nulls, escapes,
// numbers that are not plain integers, whitespace, invalid UTF-8.
var decodeSeeds = []struct {
	typ     string
	payload string
}{
	{events.TypeStockReceived, `{"sku":"SKU-1","quantity":3}`},
	{events.TypeStockReceived, `{"SKU":"SKU-1","quantity":3}`},
	{events.TypeStockReceived, `{"sku":"SKU-1","quantity":3,"extra":[1,{"a":null}]}`},
	{events.TypeStockReceived, `{"sku":"SKU-1","sku":"SKU-2","quantity":3}`},
	{events.TypeStockReceived, `{"sku":null,"quantity":3}`},
	{events.TypeStockReceived, `{"sku":"SKU-\u0031","quantity":3}`},
	{events.TypeStockReceived, `{"sku":"SKU-1","quantity":3.0}`},
	{events.TypeStockReceived, `{"sku":"SKU-1","quantity":1e2}`},
	{events.TypeStockReceived, `{"sku":"SKU-1","quantity":03}`},
	{events.TypeStockReceived, `{"sku":"SKU-1","quantity":-0}`},
	{events.TypeStockReceived, `{"sku":"SKU-1","quantity":+3}`},
	{events.TypeStockReceived, `{"sku":"SKU-1","quantity":9223372036854775807}`},
	{events.TypeStockReceived, `{"sku":"SKU-1","quantity":9223372036854775808}`},
	{events.TypeStockReceived, `{"sku":"SKU-1","quantity":-9223372036854775808}`},
	{events.TypeStockReceived, `{"sku":"SKU-1","quantity":"3"}`},
	{events.TypeStockReceived, `{"sku":"SKU-1","quantity":NaN}`},
	{events.TypeStockReceived, `{"sku":"SKU-1","quantity":inf}`},
	{events.TypeStockReceived, `{"sku": "SKU-1", "quantity": 3 }`},
	{events.TypeStockReceived, "{\"sku\":\"SKU-1\",\n\"quantity\":3}"},
	{events.TypeStockReceived, "{\"sku\":\"SKU-\xff\",\"quantity\":3}"},
	{events.TypeStockReceived, `{"sku":"SKU-1","quantity":3}x`},
	{events.TypeStockReceived, `{"sku":"SKU-1","quantity":3,}`},
	{events.TypeStockReceived, `{}`},
	{events.TypeStockReceived, `null`},
	{events.TypeStockReceived, `[]`},
	{events.TypeStockReceived, ``},
	{events.TypeProductListed, `{"sku":"S","name":"Tea & biscuits – 200 g","priceCents":250,"currency":"EUR"}`},
	{events.TypeStockReserved, `{"orderId":"o1","lines":[{"sku":"A","quantity":1},{"sku":"B","quantity":2}]}`},
	{events.TypeStockReserved, `{"orderId":"o1","lines":[]}`},
	{events.TypeStockReserved, `{"orderId":"o1","lines":null}`},
	{events.TypeStockReserved, `{"orderId":"o1","lines":[null]}`},
	{events.TypeStockReserved, `{"orderId":"o1","lines":[{"sku":"A","quantity":1,"sku":"B"}]}`},
	{events.TypeStockReserved, `{"orderId":"o1","lines":{"sku":"A"}}`},
	{events.TypeOrderPlaced, `{"orderId":"o1","customerId":"c1","lines":[{"sku":"A","quantity":1,"unitPriceCents":5}],` +
		`"totalCents":5,"currency":"EUR","paymentMethod":"wallet","placedAt":"2026-01-01T00:00:00.5Z","shippingAddress":null}`},
	{events.TypeOrderPlaced, `{"orderId":"o1","placedAt":"2026-01-01T01:00:00+01:00",` +
		`"shippingAddress":{"recipient":"R","line1":"1 Rue","city":"Paris","postalCode":"75001","country":"FR"}}`},
	{events.TypeOrderPlaced, `{"orderId":"o1","placedAt":"2026-01-01T01:00:00+01:00","shippingAddress":{}}`},
	{events.TypeOrderPlaced, `{"orderId":"o1","shippingAddress":{"city":"Paris","town":"x"}}`},
	{events.TypeOrderPlaced, `{"orderId":"o1","placedAt":"2026-01-01"}`},
	{events.TypeOrderPlaced, `{"orderId":"o1","placedAt":"2026-01-01T00:00:00z"}`},
	{events.TypeOrderPlaced, `{"orderId":"o1","placedAt":null}`},
	{events.TypeOrderPlacedV1, `{"orderId":"o1","customerId":"c1","lines":[],"totalCents":5,"placedAt":"2026-01-01T00:00:00Z"}`},
	{events.TypePaymentCaptured, `{"orderId":"o1","customerId":"c1","paymentId":"p1","amountCents":5,"method":"card"}`},
	{"catalog.nothing.v1", `{}`},
}

// TestDecoderEqualsRegistry: the Decoder gives the registry's event or
// error for every event of a history (and decodes those itself, without
// the registry) and for the odd payloads of decodeSeeds.
func TestDecoderEqualsRegistry(t *testing.T) {
	t.Parallel()
	d, reg := model.NewDecoder(), events.NewRegistry()
	h := scenario.History(scenario.Config{Orders: 200, Products: 6, Customers: 4, Seed: 5})
	kinds := map[string]bool{}
	for _, m := range h {
		b, err := json.Marshal(m.Event)
		if err != nil {
			t.Fatal(err)
		}
		sameDecode(t, d, reg, m.Event.EventType(), b)
		if model.DecodeFast(d, m.Event.EventType(), b) == nil {
			t.Fatalf("%s %s: decoded by the registry, not the decoder", m.Event.EventType(), b)
		}
		kinds[m.Event.EventType()] = true
	}
	if len(kinds) < 12 {
		t.Errorf("the history has only %d event types", len(kinds))
	}
	for _, s := range decodeSeeds {
		sameDecode(t, d, reg, s.typ, []byte(s.payload))
	}
}

// FuzzDecoderEqualsRegistry: for any payload of any type, the Decoder
// gives what the registry gives.
func FuzzDecoderEqualsRegistry(f *testing.F) {
	types := []string{events.TypeOrderPlacedV1, "catalog.nothing.v1"}
	for _, e := range events.All() {
		types = append(types, e.EventType())
	}
	for _, s := range decodeSeeds {
		for i, typ := range types {
			if typ == s.typ {
				f.Add(uint8(i), []byte(s.payload))
			}
		}
	}
	d, reg := model.NewDecoder(), events.NewRegistry()
	f.Fuzz(func(t *testing.T, i uint8, payload []byte) {
		sameDecode(t, d, reg, types[int(i)%len(types)], payload)
	})
}
