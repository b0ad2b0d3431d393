package relay_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"

	esserver "github.com/troupe-dev/troupe/embedded/eventstore"
)

// storeURL is the embedded event store the tests share; each test uses a
// context (stream prefix, topic, checkpoint) of its own.
var storeURL string

func TestMain(m *testing.M) {
	if os.Getenv(envChild) != "" {
		// Re-executed by a crash test: be a relay until killed.
		os.Exit(runChild())
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "troupe-relay-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	srv, err := esserver.Start(context.Background(), esserver.Config{DataDir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start embedded event store:", err)
		return 1
	}
	defer srv.Close()
	storeURL = srv.URL()
	return m.Run()
}
