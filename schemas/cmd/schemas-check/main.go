// Command schemas-check compares every event schema with its released copy
// and fails on a breaking change within a version (see package compat).
// Run it from the schemas module (make schemas-check does):
//
//	go run ./cmd/schemas-check            # check; exit 1 on a break
//	go run ./cmd/schemas-check -release   # after a passing check, copy new versions to released/
//
// Released copies live in the repository (schemas/released/), not in git
// history, so the check works in a shallow clone.
package main

import (
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/troupe-dev/troupe/schemas"
	"github.com/troupe-dev/troupe/schemas/compat"
)

func main() {
	dir := flag.String("dir", ".", "the schemas directory (holding <context>/*.json)")
	released := flag.String("released", "released", "the released copies, relative to -dir")
	release := flag.Bool("release", false, "after a passing check, copy unreleased versions into the released copies")
	flag.Parse()
	if err := run(*dir, filepath.Join(*dir, *released), *release); err != nil {
		fmt.Fprintln(os.Stderr, "schemas-check:", err)
		os.Exit(1)
	}
}

func run(dir, releasedDir string, release bool) error {
	cur := os.DirFS(dir)
	types, err := schemas.Types(cur)
	if err != nil {
		return err
	}
	if len(types) == 0 {
		return fmt.Errorf("no schemas under %s", dir)
	}
	if _, err := schemas.CompileFS(cur); err != nil {
		return err
	}
	rep, err := compat.CheckFS(os.DirFS(releasedDir), cur)
	if err != nil {
		return err
	}
	for _, b := range rep.Breaks {
		fmt.Fprintln(os.Stderr, "BREAKING", b)
	}
	if len(rep.Breaks) > 0 {
		return fmt.Errorf("%d breaking change(s) within a released version: add a new version file "+
			"(<event>.v<N+1>.json) and an upcaster instead (docs/events.md)", len(rep.Breaks))
	}
	for _, t := range rep.Unreleased {
		if !release {
			fmt.Printf("unreleased: %s (run with -release to record it)\n", t)
			continue
		}
		if err := copyFile(cur, schemas.PathOf(t), filepath.Join(releasedDir, schemas.PathOf(t))); err != nil {
			return err
		}
		fmt.Printf("released: %s\n", t)
	}
	fmt.Printf("schemas-check: %d schemas, no breaking change\n", len(types))
	return nil
}

func copyFile(fsys fs.FS, from, to string) error {
	b, err := fs.ReadFile(fsys, from)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o644)
}
