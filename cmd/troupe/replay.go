package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/spf13/cobra"

	catalog "github.com/troupe-dev/troupe/contexts/catalog/adapters"
	ordering "github.com/troupe-dev/troupe/contexts/ordering/adapters"
	payments "github.com/troupe-dev/troupe/contexts/payments/adapters"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

// newReplayCmd is `troupe replay`: time travel over history.
func newReplayCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Replay history: a stream to a revision or a time",
		Args:  needSubcommand,
		RunE:  func(cmd *cobra.Command, _ []string) error { return needSubcommand(cmd, nil) },
	}
	cmd.AddCommand(newReplayStreamCmd(), newReplayProjectionCmd())
	return cmd
}

// replayView is what `replay stream` prints.
type replayView struct {
	Stream string `json:"stream"`
	// Revision is the last revision replayed.
	Revision uint64 `json:"revision"`
	// LastRevision is the stream's last revision now.
	LastRevision uint64      `json:"lastRevision"`
	At           *time.Time  `json:"at,omitempty"`
	Events       []eventView `json:"events"`
	State        any         `json:"state,omitempty"`
}

func newReplayStreamCmd() *cobra.Command {
	var (
		t          target
		toRevision uint64
		at         string
		withState  bool
	)
	cmd := &cobra.Command{
		Use:   "stream <stream> [--to-revision N | --at TIME] [--state]",
		Short: "A stream's events up to a revision or a time, and with --state its aggregate then, as JSON",
		Long: "Prints, as JSON, the events of a stream (revision, type, time, data) up to and\n" +
			"including --to-revision N, or the last one written at or before --at TIME (RFC 3339,\n" +
			"e.g. 2026-01-02T15:04:05.123456789Z, the precision `streams read` prints), or all of\n" +
			"them; with --state also the aggregate folded to that point by its context's own\n" +
			"domain code (catalog.product-, catalog.reservation-, ordering.order-,\n" +
			"ordering.pricebook-, payments.wallet-, payments.payment- streams).",
		Args: exactlyOneStream,
		RunE: func(cmd *cobra.Command, args []string) error {
			stream := args[0]
			hasRev, hasAt := cmd.Flags().Changed("to-revision"), cmd.Flags().Changed("at")
			if hasRev && hasAt {
				return usageError{errors.New("give --to-revision or --at, not both")}
			}
			var atTime time.Time
			if hasAt {
				var err error
				if atTime, err = time.Parse(time.RFC3339Nano, at); err != nil {
					return usageError{fmt.Errorf("--at %q: want an RFC 3339 time such as 2026-01-02T15:04:05Z", at)}
				}
			}
			if withState {
				if err := hasAggregate(stream); err != nil {
					return err
				}
			}
			ctx := cmd.Context()
			client, err := t.eventStore(ctx)
			if err != nil {
				return err
			}
			defer client.Close()

			v := replayView{Stream: stream, Events: []eventView{}}
			if hasAt {
				at := atTime.UTC()
				v.At = &at
			}
			err = readStream(ctx, client, stream, 0, func(ev *esdb.RecordedEvent) (bool, error) {
				v.LastRevision = ev.EventNumber
				if (hasRev && ev.EventNumber > toRevision) || (hasAt && ev.CreatedDate.After(atTime)) {
					return true, nil // read on, to learn the stream's last revision
				}
				v.Events = append(v.Events, viewOf(ev))
				v.Revision = ev.EventNumber
				return true, nil
			})
			if err != nil {
				return err
			}
			switch {
			case hasRev && toRevision > v.LastRevision:
				return usageError{fmt.Errorf("--to-revision %d: stream %q's last revision is %d", toRevision, stream, v.LastRevision)}
			case len(v.Events) == 0 && hasAt:
				return usageError{fmt.Errorf("--at %s: stream %q has no event at or before then", at, stream)}
			case len(v.Events) == 0:
				return usageError{fmt.Errorf("stream %q has no event at or before revision %d (older events were truncated)", stream, toRevision)}
			}
			if withState {
				if v.State, err = stateAt(ctx, client, stream, v.Revision); err != nil {
					return err
				}
			}
			return writeIndentedJSON(cmd.OutOrStdout(), v)
		},
	}
	fs := cmd.Flags()
	fs.Uint64Var(&toRevision, "to-revision", 0, "replay up to and including this revision")
	fs.StringVar(&at, "at", "", "replay the events written at or before this time (RFC 3339)")
	fs.BoolVar(&withState, "state", false, "also print the aggregate folded to that point")
	addTargetFlags(fs, &t)
	return cmd
}

// stateFolder folds one context's aggregates with that context's own
// repositories; it answers ok false for a stream not its own.
type stateFolder func(ctx context.Context, client *esdb.Client, stream string, revision uint64) (state any, ok bool, err error)

// stateFolders are the contexts' StateAt entry points.
func stateFolders() []stateFolder {
	return []stateFolder{catalog.StateAt, ordering.StateAt, payments.StateAt}
}

// aggregatePrefixes are the streams that hold an aggregate.
func aggregatePrefixes() []string {
	return []string{
		catalog.ProductCategory + "-", catalog.ReservationCategory + "-",
		ordering.OrderCategory + "-", ordering.PriceBookCategory + "-",
		payments.WalletCategory + "-", payments.PaymentCategory + "-",
	}
}

// hasAggregate refuses, as bad usage, --state for a stream that is no
// aggregate's, before anything is read.
func hasAggregate(stream string) error {
	prefixes := aggregatePrefixes()
	for _, p := range prefixes {
		if strings.HasPrefix(stream, p) {
			return nil
		}
	}
	what := "it is no aggregate's stream"
	switch {
	case strings.HasPrefix(stream, "troupe.checkpoint-"):
		what = "it is a subscription checkpoint, which has no aggregate"
	case strings.HasPrefix(stream, "troupe.snapshot-"):
		what = "it holds snapshots, which have no aggregate"
	}
	return usageError{fmt.Errorf("--state: stream %q: %s (aggregates live in %s*)", stream, what, strings.Join(prefixes, "*, "))}
}

// stateAt folds stream's aggregate to revision.
func stateAt(ctx context.Context, client *esdb.Client, stream string, revision uint64) (any, error) {
	for _, fold := range stateFolders() {
		state, ok, err := fold(ctx, client, stream, revision)
		if !ok {
			continue
		}
		if errors.Is(err, eventstore.ErrInvalidID) {
			return nil, usageError{fmt.Errorf("--state: stream %q: %v", stream, err)}
		}
		if err != nil {
			return nil, fmt.Errorf("fold %s to revision %d: %w", stream, revision, err)
		}
		return state, nil
	}
	return nil, hasAggregate(stream)
}
