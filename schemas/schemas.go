package schemas

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

//go:embed catalog/*.json ordering/*.json payments/*.json
var embedded embed.FS

// ErrNoSchema is returned for an event type without a schema.
var ErrNoSchema = errors.New("no schema for event type")

// FS returns the embedded schemas, one file per event version at
// "<context>/<event>.v<N>.json". It is read-only and safe for concurrent use.
func FS() fs.FS { return embedded }

// PathOf returns the file of an event type's schema
// ("ordering.order_placed.v2" -> "ordering/order_placed.v2.json").
func PathOf(eventType string) string {
	ctx, rest, _ := strings.Cut(eventType, ".")
	return ctx + "/" + rest + ".json"
}

// TypeOf returns the event type a schema file describes (the inverse of
// PathOf), or "" for a path that is not "<context>/<name>.json".
func TypeOf(file string) string {
	dir, base := path.Split(file)
	name, ok := strings.CutSuffix(base, ".json")
	dir = strings.TrimSuffix(dir, "/")
	if !ok || dir == "" || strings.Contains(dir, "/") {
		return ""
	}
	return dir + "." + name
}

// Types returns the event types of every schema in fsys, sorted.
func Types(fsys fs.FS) ([]string, error) {
	files, err := fs.Glob(fsys, "*/*.json")
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(files))
	for _, f := range files {
		out = append(out, TypeOf(f))
	}
	sort.Strings(out)
	return out, nil
}

// Set is a compiled set of schemas, one per event type. It is immutable
// and safe for concurrent use.
type Set struct {
	schemas map[string]*jsonschema.Schema
}

// Compile compiles every schema of FS(). Formats (uuid, date-time) are
// asserted, not just annotations.
func Compile() (*Set, error) { return CompileFS(FS()) }

// CompileFS compiles every "<context>/<event>.v<N>.json" in fsys, checking
// that each schema's title names the event type its path implies.
func CompileFS(fsys fs.FS) (*Set, error) {
	types, err := Types(fsys)
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	s := &Set{schemas: make(map[string]*jsonschema.Schema, len(types))}
	for _, t := range types {
		b, err := fs.ReadFile(fsys, PathOf(t))
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("schema %s: %w", PathOf(t), err)
		}
		if obj, ok := doc.(map[string]any); !ok || obj["title"] != t {
			return nil, fmt.Errorf("schema %s: title must be %q", PathOf(t), t)
		}
		url := "file:///" + PathOf(t)
		if err := c.AddResource(url, doc); err != nil {
			return nil, fmt.Errorf("schema %s: %w", PathOf(t), err)
		}
		sch, err := c.Compile(url)
		if err != nil {
			return nil, fmt.Errorf("schema %s: %w", PathOf(t), err)
		}
		s.schemas[t] = sch
	}
	return s, nil
}

// Has reports whether the set holds a schema for eventType.
func (s *Set) Has(eventType string) bool {
	_, ok := s.schemas[eventType]
	return ok
}

// Types returns the event types the set validates, sorted.
func (s *Set) Types() []string {
	out := make([]string, 0, len(s.schemas))
	for t := range s.schemas {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Validate checks a JSON payload against eventType's schema. It returns
// nil when the payload conforms, an error wrapping ErrNoSchema when there
// is no schema, and otherwise an error whose message (on one line) names
// every violation.
func (s *Set) Validate(eventType string, payload []byte) error {
	sch, ok := s.schemas[eventType]
	if !ok {
		return fmt.Errorf("validate %q: %w", eventType, ErrNoSchema)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
	if err != nil {
		return fmt.Errorf("%s: payload is not JSON: %w", eventType, err)
	}
	if err := sch.Validate(inst); err != nil {
		var ve *jsonschema.ValidationError
		if errors.As(err, &ve) {
			return fmt.Errorf("%s: %s", eventType, oneLine(ve))
		}
		return fmt.Errorf("%s: %w", eventType, err)
	}
	return nil
}

// oneLine flattens a validation error tree to "at /x: msg; at /y: msg",
// short enough for a Kafka header.
func oneLine(ve *jsonschema.ValidationError) string {
	p := message.NewPrinter(language.English)
	var parts []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			parts = append(parts, "at /"+strings.Join(e.InstanceLocation, "/")+": "+e.ErrorKind.LocalizedString(p))
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	return "schema violation: " + strings.Join(parts, "; ")
}
