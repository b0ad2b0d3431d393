package relay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/troupe-dev/troupe/shared/platform/eventstore"
	"github.com/troupe-dev/troupe/shared/platform/messaging"
	"github.com/troupe-dev/troupe/shared/platform/relay"
)

// envChild carries a childConfig to a re-executed test binary, which then
// runs a relay instead of the tests (see TestMain).
const envChild = "TROUPE_RELAY_TEST_CHILD"

type childConfig struct {
	StoreURL           string
	Brokers            []string
	Context            string
	MaxInFlight        int
	CheckpointInterval time.Duration
	// Linger holds each batch in the producer this long, so acknowledgements
	// lag the handling of events and a kill lands between the two.
	Linger time.Duration
}

// runChild runs a relay until SIGTERM (exit 0) or SIGKILL, or until its
// stdin closes: the test that started it is gone, and so is the reason to
// run.
func runChild() int {
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		fmt.Fprintln(os.Stderr, "relay child: stdin closed, exiting")
		os.Exit(3)
	}()
	var cc childConfig
	if err := json.Unmarshal([]byte(os.Getenv(envChild)), &cc); err != nil {
		fmt.Fprintln(os.Stderr, "child config:", err)
		return 2
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	es, err := eventstore.Dial(cc.StoreURL, logger)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer es.Close()
	sc := messaging.NewSaramaConfig("relay-test-child")
	sc.Producer.Flush.Frequency = cc.Linger
	r, err := relay.New(relay.Config{
		Context: cc.Context, EventStore: es, Brokers: cc.Brokers, Mapper: testMapper(cc.Context), Sarama: sc,
		MaxInFlight: cc.MaxInFlight, CheckpointInterval: cc.CheckpointInterval, Logger: logger,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := r.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "relay:", err)
		return 1
	}
	return 0
}
