package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/troupe-dev/troupe/schemas"
)

// TestDocsUpToDate fails when docs/events.md is not what the schemas
// generate: run make generate and commit the result.
func TestDocsUpToDate(t *testing.T) {
	want, err := render(schemas.FS())
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../../docs/events.md")
	if err != nil {
		t.Fatalf("%v: run make generate", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("docs/events.md is stale: run make generate")
	}
}

// TestRenderNamesEveryVersion: each schema has its section, the generated
// header is there, and a superseded version says so.
func TestRenderNamesEveryVersion(t *testing.T) {
	b, err := render(schemas.FS())
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	if !strings.HasPrefix(doc, "<!-- Code generated") || !strings.Contains(doc, "DO NOT EDIT") {
		t.Fatal("no generated-file header")
	}
	types, _ := schemas.Types(schemas.FS())
	for _, typ := range types {
		if !strings.Contains(doc, "\n### "+typ+"\n") {
			t.Errorf("no section for %s", typ)
		}
	}
	if !strings.Contains(doc, "Superseded by `ordering.order_placed.v2`") || !strings.Contains(doc, "`shippingAddress.country`") {
		t.Error("order_placed v1/v2 not documented as evolved")
	}
}
