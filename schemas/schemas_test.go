package schemas_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/troupe-dev/troupe/schemas"
)

// TestCompileEmbedded: every embedded schema compiles and is found by its
// event type.
func TestCompileEmbedded(t *testing.T) {
	s, err := schemas.Compile()
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Types()) < 17 || !s.Has("ordering.order_placed.v1") || !s.Has("ordering.order_placed.v2") {
		t.Fatalf("types = %v", s.Types())
	}
	for _, typ := range s.Types() {
		if schemas.TypeOf(schemas.PathOf(typ)) != typ {
			t.Errorf("%s: PathOf/TypeOf do not round-trip", typ)
		}
	}
}

// TestValidate: a conforming payload passes; each kind of violation is
// named, on one line; an unknown type is ErrNoSchema.
func TestValidate(t *testing.T) {
	s, err := schemas.Compile()
	if err != nil {
		t.Fatal(err)
	}
	const typ = "payments.payment_failed.v1"
	ok := `{"orderId":"6f1c2f6e-8a4f-4a57-9d38-2d8a3e5e7a10","customerId":"c-1","reason":"card_declined"}`
	if err := s.Validate(typ, []byte(ok)); err != nil {
		t.Fatalf("valid payload: %v", err)
	}
	for name, tc := range map[string]struct{ payload, want string }{
		"missing":    {`{"orderId":"6f1c2f6e-8a4f-4a57-9d38-2d8a3e5e7a10","customerId":"c-1"}`, "reason"},
		"enum":       {`{"orderId":"6f1c2f6e-8a4f-4a57-9d38-2d8a3e5e7a10","customerId":"c-1","reason":"nope"}`, "/reason"},
		"format":     {`{"orderId":"o-1","customerId":"c-1","reason":"card_declined"}`, "/orderId"},
		"type":       {`{"orderId":"6f1c2f6e-8a4f-4a57-9d38-2d8a3e5e7a10","customerId":7,"reason":"card_declined"}`, "/customerId"},
		"not JSON":   {`{`, "not JSON"},
		"not object": {`[]`, "schema violation"},
	} {
		err := s.Validate(typ, []byte(tc.payload))
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: err = %v, want one line naming %q", name, err, tc.want)
		}
	}
	if err := s.Validate("catalog.nope.v1", []byte(`{}`)); !errors.Is(err, schemas.ErrNoSchema) {
		t.Errorf("unknown type: %v", err)
	}
}
