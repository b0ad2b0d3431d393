package events_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/troupe-dev/troupe/schemas"
	"github.com/troupe-dev/troupe/shared/events"
)

// samplesPerType is how many random values of each event are validated.
const samplesPerType = 200

// TestEverySchemaHasAnEventAndBack: the schemas and the Go types describe
// the same set of event versions, current and historical.
func TestEverySchemaHasAnEventAndBack(t *testing.T) {
	set, err := schemas.Compile()
	if err != nil {
		t.Fatal(err)
	}
	goTypes := map[string]bool{}
	for _, e := range append(events.All(), events.Historical()...) {
		goTypes[e.EventType()] = true
		if !set.Has(e.EventType()) {
			t.Errorf("event %s (%T) has no schema at schemas/%s", e.EventType(), e, schemas.PathOf(e.EventType()))
		}
	}
	for _, typ := range set.Types() {
		if !goTypes[typ] {
			t.Errorf("schema %s describes no event in events.All() or events.Historical()", schemas.PathOf(typ))
		}
	}
	r := events.NewRegistry()
	for _, h := range events.Historical() {
		if cur, ok := r.Current(h.EventType()); !ok || cur == h.EventType() {
			t.Errorf("historical %s does not upcast to a registered type", h.EventType())
		}
	}
}

// TestRandomEventsValidate: random values of every event, marshalled as
// producers do, conform to their schema; dropping any top-level field makes
// them fail (the schema requires what the Go type always writes); and a
// historical payload, upcast, conforms to the current version's schema.
func TestRandomEventsValidate(t *testing.T) {
	set, err := schemas.Compile()
	if err != nil {
		t.Fatal(err)
	}
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 9))
	r := events.NewRegistry()
	for _, zero := range append(events.All(), events.Historical()...) {
		typ := zero.EventType()
		g := gen{rng: rng, eventType: typ}
		for i := 0; i < samplesPerType; i++ {
			v := reflect.New(reflect.TypeOf(zero)).Elem()
			g.fill(v, "")
			b, err := json.Marshal(v.Interface())
			if err != nil {
				t.Fatal(err)
			}
			if err := set.Validate(typ, b); err != nil {
				t.Fatalf("%s sample %d %s: %v", typ, i, b, err)
			}
			var fields map[string]json.RawMessage
			_ = json.Unmarshal(b, &fields)
			for f := range fields {
				less := map[string]json.RawMessage{}
				for k, x := range fields {
					if k != f {
						less[k] = x
					}
				}
				lb, _ := json.Marshal(less)
				if set.Validate(typ, lb) == nil {
					t.Fatalf("%s without %q still validates: the schema must require it", typ, f)
				}
			}
			cur, up, err := r.Upcast(typ, b)
			if err != nil {
				t.Fatalf("%s: upcast: %v", typ, err)
			}
			if err := set.Validate(cur, up); err != nil {
				t.Fatalf("%s upcast to %s %s: %v", typ, cur, up, err)
			}
		}
	}
}

// gen fills values from the JSON field names, within the design's rules
// (order ids are UUIDs, SKUs [A-Z0-9-]{3,32}, amounts positive cents). A
// new field with no rule gets an arbitrary string or number, which the
// schema may reject: then teach gen the field's rule.
type gen struct {
	rng       *rand.Rand
	eventType string
}

var enums = map[string][]string{
	"catalog.stock_reservation_failed.v1.reason": {events.ReasonOutOfStock, events.ReasonUnknownProduct},
	"ordering.order_cancelled.v1.reason": {events.ReasonOutOfStock, events.ReasonUnknownProduct, events.ReasonPaymentFailed,
		events.ReasonCustomerRequested, events.ReasonTimeout},
	"payments.payment_failed.v1.reason": {events.ReasonInsufficientFunds, events.ReasonCardDeclined, events.ReasonGatewayUnavailable},
}

func (g gen) fill(v reflect.Value, field string) {
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			zone := time.FixedZone("z", (g.rng.IntN(27)-12)*3600)
			v.Set(reflect.ValueOf(time.Unix(g.rng.Int64N(4e9), g.rng.Int64N(1e9)).In(zone)))
			return
		}
		for i := 0; i < v.NumField(); i++ {
			name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
			g.fill(v.Field(i), name)
		}
	case reflect.Pointer:
		if g.rng.IntN(2) == 0 {
			return // nil: an optional object left out
		}
		v.Set(reflect.New(v.Type().Elem()))
		g.fill(v.Elem(), field)
	case reflect.Slice:
		n := 1 + g.rng.IntN(8)
		v.Set(reflect.MakeSlice(v.Type(), n, n))
		for i := 0; i < n; i++ {
			g.fill(v.Index(i), field)
		}
	case reflect.String:
		v.SetString(g.str(field))
	case reflect.Int, reflect.Int64:
		v.SetInt(g.num(field))
	default:
		panic(fmt.Sprintf("gen: no rule for %s %s", field, v.Kind()))
	}
}

func (g gen) str(field string) string {
	if opts, ok := enums[g.eventType+"."+field]; ok {
		return opts[g.rng.IntN(len(opts))]
	}
	switch field {
	case "orderId", "paymentId":
		b := make([]byte, 16)
		for i := range b {
			b[i] = byte(g.rng.IntN(256))
		}
		b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
		return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
	case "sku":
		return g.from("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-", 3, 32)
	case "customerId":
		return g.from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-", 1, 64)
	case "currency":
		return g.from("ABCDEFGHIJKLMNOPQRSTUVWXYZ", 3, 3)
	case "country":
		return g.from("ABCDEFGHIJKLMNOPQRSTUVWXYZ", 2, 2)
	case "paymentMethod", "method":
		return []string{events.PaymentMethodWallet, events.PaymentMethodCard}[g.rng.IntN(2)]
	case "postalCode":
		return g.from("0123456789ABC -", 1, 20)
	case "line2":
		return g.from("abc äß-/ 12", 0, 200)
	default: // free text: names, address lines
		return g.from("abcdefghijklmnopqrstuvwxyz ÄÖÜéß漢字-'.,0123456789", 1, 100)
	}
}

func (g gen) from(alphabet string, minLen, maxLen int) string {
	runes := []rune(alphabet)
	n := minLen + g.rng.IntN(maxLen-minLen+1)
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteRune(runes[g.rng.IntN(len(runes))])
	}
	return b.String()
}

func (g gen) num(field string) int64 {
	switch field {
	case "quantity":
		return 1 + g.rng.Int64N(1000)
	case "balanceCents":
		return g.rng.Int64N(1e10)
	default: // amounts and prices: positive cents
		return 1 + g.rng.Int64N(1e10)
	}
}
