package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// scaffoldWorkspace is a temp repository: go.work over the real platform
// modules (symlinked, so the generated replace lines ../../shared/... hold).
func scaffoldWorkspace(t *testing.T) string {
	t.Helper()
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	mods := []string{"embedded", "schemas", "shared"}
	for _, m := range mods {
		if err := os.Symlink(filepath.Join(repo, m), filepath.Join(tmp, m)); err != nil {
			t.Fatal(err)
		}
	}
	work := "go 1.26.0\n\nuse (\n\t./embedded\n\t./schemas\n\t./shared/events\n\t./shared/platform\n)\n"
	if err := os.WriteFile(filepath.Join(tmp, "go.work"), []byte(work), 0o644); err != nil {
		t.Fatal(err)
	}
	if sum, err := os.ReadFile(filepath.Join(repo, "go.work.sum")); err == nil {
		if err := os.WriteFile(filepath.Join(tmp, "go.work.sum"), sum, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return tmp
}

// TestSubscribersNew scaffolds a subscriber into a temp workspace; it is
// added to go.work, and it builds, vets and passes its own test at once.
func TestSubscribersNew(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go tool on PATH")
	}
	root := scaffoldWorkspace(t)
	var out bytes.Buffer
	cmd := newRootCmd()
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"subscribers", "new", "audit-log", "--root", root})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("subscribers new: %v", err)
	}
	work, _ := os.ReadFile(filepath.Join(root, "go.work"))
	if !strings.Contains(string(work), "./subscribers/audit-log") {
		t.Fatalf("go.work does not use the new module:\n%s", work)
	}
	dir := filepath.Join(root, "subscribers", "audit-log")
	for _, f := range []string{"go.mod", "handler.go", "handler_test.go", "README.md", "cmd/audit-log/main.go"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	if msg, err := exec.Command("gofmt", "-l", dir).CombinedOutput(); err != nil || len(msg) > 0 {
		t.Fatalf("generated code is not gofmt-clean: %v %s", err, msg)
	}
	for _, args := range [][]string{{"vet", "./..."}, {"test", "-count=1", "./..."}} {
		c := exec.Command("go", args...)
		c.Dir = dir
		if msg, err := c.CombinedOutput(); err != nil {
			t.Fatalf("go %s in the scaffold: %v\n%s", strings.Join(args, " "), err, msg)
		}
	}

	// The same name again is refused as bad usage, and changes nothing.
	cmd = newRootCmd()
	cmd.SetArgs([]string{"subscribers", "new", "audit-log", "--root", root})
	var ue usageError
	if err := cmd.Execute(); !errors.As(err, &ue) || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("existing name: %v, want a usage error saying it exists", err)
	}
}

func TestSubscribersNewBadNames(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "go.work"), []byte("go 1.26.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"Loyalty", "1st", "-x", "a_b", "a.b", "../escape", strings.Repeat("a", 64), ""} {
		cmd := newRootCmd()
		cmd.SetArgs([]string{"subscribers", "new", name, "--root", root})
		var ue usageError
		if err := cmd.Execute(); !errors.As(err, &ue) {
			t.Errorf("name %q: %v, want a usage error", name, err)
		}
	}
	if entries, _ := os.ReadDir(root); len(entries) != 1 {
		t.Fatalf("bad names wrote files: %v", entries)
	}
	if code := run(t.Context(), []string{"subscribers", "new", "Bad"}); code != 2 {
		t.Fatalf("exit code %d, want 2", code)
	}
}
