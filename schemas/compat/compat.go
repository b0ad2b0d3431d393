// Package compat decides whether a JSON Schema may replace its released
// copy under the same event version. Consumers rely on a released schema:
// whatever it promised a producer would write must stay promised. So
// within a version a schema may only loosen (an optional property added,
// a limit widened, an enum value added); anything a consumer could trip on
// is a break, and needs a new version file instead.
package compat

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"reflect"
	"sort"
	"strings"

	"github.com/troupe-dev/troupe/schemas"
)

// Break is one incompatible change between a released schema and its
// current copy.
type Break struct {
	// Type is the event version, e.g. "ordering.order_placed.v1".
	Type string
	// Path locates the change in the schema, e.g. "/properties/lines/items".
	Path string
	// Kind names the rule: removed-property, newly-required, narrowed-type,
	// narrowed-enum, tightened-limit, changed-format, changed-pattern,
	// closed-object, removed-version, malformed.
	Kind string
	// Detail says what changed.
	Detail string
}

func (b Break) String() string {
	return fmt.Sprintf("%s %s: %s: %s", b.Type, b.Path, b.Kind, b.Detail)
}

// Compare returns the breaking changes from the released schema to the
// current one of eventType (nil when current is compatible).
func Compare(eventType string, released, current []byte) []Break {
	var old, cur map[string]any
	if err := json.Unmarshal(released, &old); err != nil {
		return []Break{{Type: eventType, Path: "/", Kind: "malformed", Detail: "released copy: " + err.Error()}}
	}
	if err := json.Unmarshal(current, &cur); err != nil {
		return []Break{{Type: eventType, Path: "/", Kind: "malformed", Detail: err.Error()}}
	}
	c := &checker{typ: eventType}
	c.schema("", old, cur)
	sort.Slice(c.breaks, func(i, j int) bool { return c.breaks[i].String() < c.breaks[j].String() })
	return c.breaks
}

// Report is the outcome of CheckFS.
type Report struct {
	// Breaks are the incompatible changes; the check fails when any.
	Breaks []Break
	// Unreleased are current versions without a released copy (new
	// versions, fine until released).
	Unreleased []string
}

// CheckFS compares every released schema ("<context>/<event>.v<N>.json"
// in released) with its current copy in current. A released version
// missing from current is a break too: history still holds its events.
func CheckFS(released, current fs.FS) (Report, error) {
	var r Report
	rel, err := schemas.Types(released)
	if err != nil {
		return r, err
	}
	cur, err := schemas.Types(current)
	if err != nil {
		return r, err
	}
	have := map[string]bool{}
	for _, t := range cur {
		have[t] = true
	}
	for _, t := range rel {
		old, err := fs.ReadFile(released, schemas.PathOf(t))
		if err != nil {
			return r, err
		}
		if !have[t] {
			r.Breaks = append(r.Breaks, Break{Type: t, Path: "/", Kind: "removed-version",
				Detail: "released schema " + schemas.PathOf(t) + " is gone; its events are still in history"})
			continue
		}
		now, err := fs.ReadFile(current, schemas.PathOf(t))
		if err != nil {
			return r, err
		}
		r.Breaks = append(r.Breaks, Compare(t, old, now)...)
		delete(have, t)
	}
	for t := range have {
		r.Unreleased = append(r.Unreleased, t)
	}
	sort.Strings(r.Unreleased)
	return r, nil
}

type checker struct {
	typ    string
	breaks []Break
}

func (c *checker) add(path, kind, format string, args ...any) {
	if path == "" {
		path = "/"
	}
	c.breaks = append(c.breaks, Break{Type: c.typ, Path: path, Kind: kind, Detail: fmt.Sprintf(format, args...)})
}

// schema compares two (sub)schemas at path.
func (c *checker) schema(path string, old, cur map[string]any) {
	c.types(path, old["type"], cur["type"])
	c.enum(path, old, cur)
	for _, k := range []string{"format", "pattern", "const"} {
		o, hadOld := old[k]
		n, hasNew := cur[k]
		if hasNew && (!hadOld || !reflect.DeepEqual(o, n)) {
			kind := "changed-" + k
			c.add(path, kind, "%s %v -> %v", k, show(o, hadOld), n)
		}
	}
	// Lower bounds may only go down, upper bounds only up; a bound that
	// appears where there was none tightens too.
	for _, k := range []string{"minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties"} {
		c.bound(path, k, old, cur, func(o, n float64) bool { return n > o })
	}
	for _, k := range []string{"maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties", "multipleOf"} {
		c.bound(path, k, old, cur, func(o, n float64) bool { return n < o || (k == "multipleOf" && n != o) })
	}
	c.required(path, old, cur)
	if ap, ok := cur["additionalProperties"]; ok && ap == false {
		if old["additionalProperties"] != false {
			c.add(path, "closed-object", "additionalProperties is now false")
		}
	}
	oldProps, _ := old["properties"].(map[string]any)
	curProps, _ := cur["properties"].(map[string]any)
	for name, o := range oldProps {
		n, ok := curProps[name]
		if !ok {
			c.add(path+"/properties/"+name, "removed-property", "property %q removed", name)
			continue
		}
		om, _ := o.(map[string]any)
		nm, _ := n.(map[string]any)
		if om != nil && nm != nil {
			c.schema(path+"/properties/"+name, om, nm)
		}
	}
	if oi, ok := old["items"].(map[string]any); ok {
		if ni, ok := cur["items"].(map[string]any); ok {
			c.schema(path+"/items", oi, ni)
		}
	} else if ni, ok := cur["items"].(map[string]any); ok && len(ni) > 0 {
		c.add(path+"/items", "narrowed-type", "items constrained where they were not")
	}
}

func show(v any, ok bool) any {
	if !ok {
		return "(none)"
	}
	return v
}

func typeSet(v any) map[string]bool {
	set := map[string]bool{}
	switch t := v.(type) {
	case string:
		set[t] = true
	case []any:
		for _, x := range t {
			if s, ok := x.(string); ok {
				set[s] = true
			}
		}
	}
	if set["number"] {
		set["integer"] = true // number admits every integer
	}
	return set
}

func (c *checker) types(path string, old, cur any) {
	if cur == nil {
		return // no type constraint now: nothing narrowed
	}
	if old == nil {
		c.add(path, "narrowed-type", "type %v constrained where any was allowed", cur)
		return
	}
	o, n := typeSet(old), typeSet(cur)
	var lost []string
	for t := range o {
		if !n[t] {
			lost = append(lost, t)
		}
	}
	if len(lost) > 0 {
		sort.Strings(lost)
		c.add(path, "narrowed-type", "type %v -> %v drops %s", old, cur, strings.Join(lost, ", "))
	}
}

func (c *checker) enum(path string, old, cur map[string]any) {
	ne, ok := cur["enum"].([]any)
	if !ok {
		return
	}
	oe, had := old["enum"].([]any)
	if !had {
		c.add(path, "narrowed-enum", "enum %v where any value was allowed", ne)
		return
	}
	var lost []string
	for _, o := range oe {
		found := false
		for _, n := range ne {
			if reflect.DeepEqual(o, n) {
				found = true
				break
			}
		}
		if !found {
			lost = append(lost, fmt.Sprint(o))
		}
	}
	if len(lost) > 0 {
		c.add(path, "narrowed-enum", "enum drops %s", strings.Join(lost, ", "))
	}
}

func (c *checker) bound(path, k string, old, cur map[string]any, tighter func(o, n float64) bool) {
	n, hasNew := cur[k].(float64)
	if !hasNew {
		return
	}
	o, hadOld := old[k].(float64)
	if !hadOld || tighter(o, n) {
		c.add(path, "tightened-limit", "%s %v -> %v", k, show(old[k], hadOld), n)
	}
}

func (c *checker) required(path string, old, cur map[string]any) {
	was := map[string]bool{}
	if r, ok := old["required"].([]any); ok {
		for _, x := range r {
			was[fmt.Sprint(x)] = true
		}
	}
	if r, ok := cur["required"].([]any); ok {
		for _, x := range r {
			if name := fmt.Sprint(x); !was[name] {
				c.add(path, "newly-required", "%q is now required", name)
			}
		}
	}
}
