package compat_test

import (
	"encoding/json"
	"io/fs"
	"os"
	"testing"
	"testing/fstest"

	"github.com/troupe-dev/troupe/schemas"
	"github.com/troupe-dev/troupe/schemas/compat"
)

const typ = "ordering.order_placed.v2"

// doctor returns the embedded order_placed.v2 schema after edit.
func doctor(t *testing.T, edit func(s map[string]any)) []byte {
	t.Helper()
	b, err := fs.ReadFile(schemas.FS(), schemas.PathOf(typ))
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	edit(s)
	out, _ := json.Marshal(s)
	return out
}

func prop(s map[string]any, path ...string) map[string]any {
	for _, p := range path {
		s = s["properties"].(map[string]any)[p].(map[string]any)
	}
	return s
}

// TestEachKindOfBreakIsDetected: every doctored change that a consumer of
// the released schema could trip on is reported, with its kind and path.
func TestEachKindOfBreakIsDetected(t *testing.T) {
	t.Parallel()
	released := doctor(t, func(map[string]any) {})
	for _, tc := range []struct {
		name, kind, path string
		edit             func(s map[string]any)
	}{
		{"removed property", "removed-property", "/properties/currency", func(s map[string]any) {
			delete(s["properties"].(map[string]any), "currency")
		}},
		{"removed nested property", "removed-property", "/properties/shippingAddress/properties/line2", func(s map[string]any) {
			delete(prop(s, "shippingAddress")["properties"].(map[string]any), "line2")
		}},
		{"newly required", "newly-required", "/properties/shippingAddress", func(s map[string]any) {
			a := prop(s, "shippingAddress")
			a["required"] = append(a["required"].([]any), "line2")
		}},
		{"narrowed type", "narrowed-type", "/properties/shippingAddress", func(s map[string]any) {
			prop(s, "shippingAddress")["type"] = "object"
		}},
		{"integer to string", "narrowed-type", "/properties/totalCents", func(s map[string]any) {
			prop(s, "totalCents")["type"] = "string"
		}},
		{"narrowed enum", "narrowed-enum", "/properties/paymentMethod", func(s map[string]any) {
			prop(s, "paymentMethod")["enum"] = []any{"wallet"}
		}},
		{"raised minimum", "tightened-limit", "/properties/totalCents", func(s map[string]any) {
			prop(s, "totalCents")["minimum"] = 100
		}},
		{"lowered maximum in items", "tightened-limit", "/properties/lines/items/properties/quantity", func(s map[string]any) {
			prop(s, "lines")["items"].(map[string]any)["properties"].(map[string]any)["quantity"].(map[string]any)["maximum"] = 10
		}},
		{"new maxLength", "tightened-limit", "/properties/customerId", func(s map[string]any) {
			prop(s, "customerId")["maxLength"] = 8
		}},
		{"new format", "changed-format", "/properties/customerId", func(s map[string]any) {
			prop(s, "customerId")["format"] = "uuid"
		}},
		{"changed pattern", "changed-pattern", "/properties/currency", func(s map[string]any) {
			prop(s, "currency")["pattern"] = "^EUR$"
		}},
		{"closed object", "closed-object", "/", func(s map[string]any) {
			s["additionalProperties"] = false
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			breaks := compat.Compare(typ, released, doctor(t, tc.edit))
			found := false
			for _, b := range breaks {
				if b.Kind == tc.kind && b.Path == tc.path {
					found = true
				}
			}
			if !found {
				t.Fatalf("breaks %v: want %s at %s", breaks, tc.kind, tc.path)
			}
		})
	}
}

// TestCompatibleChangesPass: loosening within a version is allowed.
func TestCompatibleChangesPass(t *testing.T) {
	t.Parallel()
	released := doctor(t, func(map[string]any) {})
	for name, edit := range map[string]func(s map[string]any){
		"unchanged": func(map[string]any) {},
		"optional property added": func(s map[string]any) {
			s["properties"].(map[string]any)["giftNote"] = map[string]any{"type": "string", "description": "A note.", "maxLength": 500}
		},
		"enum value added": func(s map[string]any) {
			prop(s, "paymentMethod")["enum"] = []any{"wallet", "card", "invoice"}
		},
		"limit widened": func(s map[string]any) {
			prop(s, "lines")["maxItems"] = 200
			prop(s, "totalCents")["minimum"] = 0
		},
		"description edited": func(s map[string]any) { s["description"] = "Reworded." },
		"type widened":       func(s map[string]any) { prop(s, "customerId")["type"] = []any{"string", "null"} },
		"requirement dropped": func(s map[string]any) {
			a := prop(s, "shippingAddress")
			a["required"] = []any{"recipient", "line1", "city", "country"}
		},
	} {
		if breaks := compat.Compare(typ, released, doctor(t, edit)); len(breaks) != 0 {
			t.Errorf("%s: breaks %v", name, breaks)
		}
	}
}

// TestCheckFS: a released version that disappeared is a break; a new one
// is reported as unreleased; the repository's schemas match their
// released copies.
func TestCheckFS(t *testing.T) {
	t.Parallel()
	v1 := []byte(`{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}`)
	released := fstest.MapFS{"x/e.v1.json": {Data: v1}, "x/gone.v1.json": {Data: v1}}
	current := fstest.MapFS{"x/e.v1.json": {Data: v1}, "x/e.v2.json": {Data: v1}}
	rep, err := compat.CheckFS(released, current)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Breaks) != 1 || rep.Breaks[0].Kind != "removed-version" || rep.Breaks[0].Type != "x.gone.v1" ||
		len(rep.Unreleased) != 1 || rep.Unreleased[0] != "x.e.v2" {
		t.Fatalf("report %+v", rep)
	}

	rep, err = compat.CheckFS(os.DirFS("../released"), schemas.FS())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Breaks) != 0 {
		t.Fatalf("the repository's schemas break their released copies: %v", rep.Breaks)
	}
}
