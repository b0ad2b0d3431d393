package messaging_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/troupe-dev/troupe/shared/platform/messaging"
)

// TestContinuationsBoundWhatRunsOn: with one slot, a second rest waits for the
// first to end before it starts; a wait that outlasts the subscriber's
// context returns its error, so the event is not acknowledged.
func TestContinuationsBoundWhatRunsOn(t *testing.T) {
	b := messaging.NewContinuations(1, "testing", slog.New(slog.DiscardHandler))
	ctx := t.Context()
	release, started := make(chan struct{}), make(chan string, 2)
	rest := func(name string) func(context.Context) error {
		return func(context.Context) error {
			started <- name
			<-release
			return nil
		}
	}
	if err := b.Go(ctx, "o-1", rest("first")); err != nil {
		t.Fatal(err)
	}
	if got := <-started; got != "first" {
		t.Fatalf("started %s", got)
	}
	second := make(chan error, 1)
	go func() { second <- b.Go(ctx, "o-2", rest("second")) }()
	select {
	case err := <-second:
		t.Fatalf("the second run returned (%v) while the only slot was taken", err)
	case <-time.After(100 * time.Millisecond):
	}
	release <- struct{}{} // the first ends; the second gets its slot
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	if got := <-started; got != "second" {
		t.Fatalf("started %s", got)
	}

	cctx, cancel := context.WithCancel(ctx)
	third := make(chan error, 1)
	go func() { third <- b.Go(cctx, "o-3", rest("third")) }()
	cancel()
	if err := <-third; !errors.Is(err, context.Canceled) {
		t.Fatalf("a run cut short while waiting: %v, want context.Canceled", err)
	}
	close(release)
	select {
	case got := <-started:
		t.Fatalf("%s started after its wait was cut short", got)
	case <-time.After(50 * time.Millisecond):
	}
}
