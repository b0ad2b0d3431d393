package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunFailsOnABreakAndReleasesNewVersions: on a copy of a schemas
// tree, a release records a new version; then narrowing it fails the
// check, while a new version file beside it passes.
func TestRunFailsOnABreakAndReleasesNewVersions(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, body string) {
		t.Helper()
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const v1 = `{"$schema":"https://json-schema.org/draft/2020-12/schema","title":"x.e.v1","type":"object",
		"properties":{"kind":{"type":"string","enum":["a","b"]}},"required":["kind"]}`
	write("x/e.v1.json", v1)
	released := filepath.Join(dir, "released")
	if err := run(dir, released, true); err != nil {
		t.Fatalf("first release: %v", err)
	}
	if _, err := os.Stat(filepath.Join(released, "x/e.v1.json")); err != nil {
		t.Fatalf("not released: %v", err)
	}
	write("x/e.v1.json", strings.Replace(v1, `["a","b"]`, `["a"]`, 1))
	if err := run(dir, released, false); err == nil || !strings.Contains(err.Error(), "breaking") {
		t.Fatalf("narrowed enum passed: %v", err)
	}
	write("x/e.v1.json", v1)
	write("x/e.v2.json", strings.Replace(strings.Replace(v1, `["a","b"]`, `["a"]`, 1), "x.e.v1", "x.e.v2", 1))
	if err := run(dir, released, false); err != nil {
		t.Fatalf("a new version failed: %v", err)
	}
}
