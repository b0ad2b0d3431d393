package eventstore_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	esserver "github.com/troupe-dev/troupe/embedded/eventstore"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
	"github.com/troupe-dev/troupe/shared/platform/eventstore/eventstoretest"
)

// storeURL is the embedded server every test of this package shares; each
// test writes only to streams of its own.
var storeURL string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "troupe-eventstore-test-")
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

// TestContract holds the embedded server and, when
// TROUPE_TEST_EVENTSTORE_URL names one, a real KurrentDB to the same
// contract.
func TestContract(t *testing.T) {
	t.Run("embedded", func(t *testing.T) {
		t.Parallel()
		eventstoretest.Run(t, storeURL)
	})
	t.Run("kurrentdb", func(t *testing.T) {
		url := os.Getenv("TROUPE_TEST_EVENTSTORE_URL")
		if url == "" {
			t.Skip("TROUPE_TEST_EVENTSTORE_URL is not set")
		}
		t.Parallel()
		eventstoretest.Run(t, url)
	})
}

func newClient(t testing.TB) *esdb.Client {
	t.Helper()
	c, err := eventstore.Dial(storeURL, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}
