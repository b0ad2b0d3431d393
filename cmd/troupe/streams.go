package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/spf13/cobra"

	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

// timeLayout prints event times to the store's precision, so a printed time
// can be given back to `replay stream --at` exactly.
const timeLayout = time.RFC3339Nano

// newStreamsCmd is `troupe streams`: browse the event store.
func newStreamsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "streams",
		Short: "Browse the event store: ls, read <stream>, tail",
		Args:  needSubcommand,
		RunE:  func(cmd *cobra.Command, _ []string) error { return needSubcommand(cmd, nil) },
	}
	cmd.AddCommand(newStreamsLsCmd(), newStreamsReadCmd(), newStreamsTailCmd())
	return cmd
}

// needSubcommand makes a command group answer an unknown or missing
// subcommand with bad usage (exit 2) instead of its help and exit 0.
func needSubcommand(cmd *cobra.Command, args []string) error {
	var names []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			names = append(names, c.Name())
		}
	}
	if len(args) > 0 {
		return usageError{fmt.Errorf("unknown command %q for %s (want %s)", args[0], cmd.CommandPath(), strings.Join(names, ", "))}
	}
	return usageError{fmt.Errorf("%s needs a subcommand: %s", cmd.CommandPath(), strings.Join(names, ", "))}
}

// streamInfo is one line of `streams ls`.
type streamInfo struct {
	Stream        string    `json:"stream"`
	LastRevision  uint64    `json:"lastRevision"`
	LastEventType string    `json:"lastEventType"`
	LastEventAt   time.Time `json:"lastEventAt"`
}

func newStreamsLsCmd() *cobra.Command {
	var (
		t      target
		output string
		prefix string
	)
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List the streams (without $ system streams): last revision, last event type and time",
		Long: "Lists every stream of the event store but the $ system streams, sorted by name,\n" +
			"with its last revision and its last event's type and time. Deleted streams are left\n" +
			"out. It scans $all once, newest first, so it takes longer as history grows.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			ctx := cmd.Context()
			client, err := t.eventStore(ctx)
			if err != nil {
				return err
			}
			defer client.Close()
			list, err := listStreams(ctx, client, prefix)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if output == "json" {
				return writeIndentedJSON(out, list)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "STREAM\tLAST REVISION\tLAST EVENT\tAT")
			for _, s := range list {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", s.Stream, s.LastRevision, s.LastEventType, s.LastEventAt.UTC().Format(timeLayout))
			}
			return tw.Flush()
		},
	}
	fs := cmd.Flags()
	outputFlag(fs, &output)
	fs.StringVar(&prefix, "prefix", "", "only streams whose name starts with this (e.g. ordering.order-)")
	addTargetFlags(fs, &t)
	return cmd
}

// listStreams scans $all backwards, so the first event met of a stream is
// its last one, and a stream's newest metadata is met before its last
// event. Streams whose metadata truncates every event ($tb, a soft delete)
// and tombstoned streams are left out.
func listStreams(ctx context.Context, client *esdb.Client, prefix string) ([]streamInfo, error) {
	rs, err := client.ReadAll(ctx, esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}}, math.MaxUint64)
	if err != nil {
		return nil, fmt.Errorf("read $all: %w", err)
	}
	defer rs.Close()
	seen := map[string]bool{}
	truncateBefore := map[string]float64{} // newest $tb per stream
	var list []streamInfo
	for {
		re, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read $all: %w", err)
		}
		ev := re.OriginalEvent()
		name := ev.StreamID
		if meta, ok := strings.CutPrefix(name, "$$"); ok {
			if _, known := truncateBefore[meta]; !known {
				truncateBefore[meta] = metadataTB(ev.Data)
			}
			continue
		}
		if strings.HasPrefix(name, "$") || seen[name] || !strings.HasPrefix(name, prefix) {
			continue
		}
		seen[name] = true
		if ev.EventType == "$streamDeleted" {
			continue
		}
		if tb, ok := truncateBefore[name]; ok && float64(ev.EventNumber) < tb {
			continue
		}
		list = append(list, streamInfo{Stream: name, LastRevision: ev.EventNumber, LastEventType: ev.EventType, LastEventAt: ev.CreatedDate.UTC()})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Stream < list[j].Stream })
	if list == nil {
		list = []streamInfo{}
	}
	return list, nil
}

// metadataTB is the $tb (truncate before) of stream metadata, -1 without
// one. It is a float because a soft delete writes max int64, which JSON
// numbers only hold approximately.
func metadataTB(data []byte) float64 {
	var m struct {
		TB *float64 `json:"$tb"`
	}
	if json.Unmarshal(data, &m) != nil || m.TB == nil {
		return -1
	}
	return *m.TB
}

// eventView is an event as the inspection commands print it.
type eventView struct {
	Revision      uint64    `json:"revision"`
	Type          string    `json:"type"`
	Time          time.Time `json:"time"`
	Data          any       `json:"data"`
	Stream        string    `json:"stream,omitempty"`
	ID            string    `json:"id"`
	CorrelationID string    `json:"correlationId,omitempty"`
	CausationID   string    `json:"causationId,omitempty"`
}

func viewOf(ev *esdb.RecordedEvent) eventView {
	md, _ := eventstore.ParseMetadata(ev.UserMetadata)
	return eventView{
		Revision: ev.EventNumber, Type: ev.EventType, Time: ev.CreatedDate.UTC(), Data: dataValue(ev.Data),
		ID: ev.EventID.String(), CorrelationID: md.CorrelationID, CausationID: md.CausationID,
	}
}

// dataValue is event data as it is best printed: JSON as is, other text as
// a string, anything else base64.
func dataValue(data []byte) any {
	switch {
	case len(data) == 0:
		return nil
	case json.Valid(data):
		return json.RawMessage(data)
	case utf8.Valid(data):
		return string(data)
	}
	return base64.StdEncoding.EncodeToString(data)
}

// compactData is event data on one line.
func compactData(v any) string {
	switch d := v.(type) {
	case nil:
		return "-"
	case json.RawMessage:
		var b bytes.Buffer
		if err := json.Compact(&b, d); err == nil {
			return b.String()
		}
		return string(d)
	case string:
		return fmt.Sprintf("%q", d)
	}
	return fmt.Sprint(v)
}

// readStream calls fn with each event of stream in order until fn says
// stop. A stream that does not exist (or was deleted) is bad usage naming
// it.
func readStream(ctx context.Context, client *esdb.Client, stream string, from uint64, fn func(*esdb.RecordedEvent) (more bool, err error)) error {
	rs, err := client.ReadStream(ctx, stream, esdb.ReadStreamOptions{Direction: esdb.Forwards, From: esdb.Revision(from)}, math.MaxUint64)
	if err == nil {
		defer rs.Close()
	}
	first := true
	for err == nil {
		var re *esdb.ResolvedEvent
		re, err = rs.Recv()
		if err != nil {
			break
		}
		first = false
		more, ferr := fn(re.OriginalEvent())
		if ferr != nil || !more {
			return ferr
		}
	}
	switch {
	case errors.Is(err, io.EOF):
		return nil
	case first && eventstore.IsStreamNotFound(err):
		return usageError{fmt.Errorf("stream %q does not exist (list them with `troupe streams ls`)", stream)}
	case first && eventstore.IsStreamDeleted(err):
		return usageError{fmt.Errorf("stream %q was deleted", stream)}
	}
	return fmt.Errorf("read %s: %w", stream, err)
}

func newStreamsReadCmd() *cobra.Command {
	var (
		t      target
		output string
		from   uint64
		limit  uint64
	)
	cmd := &cobra.Command{
		Use:   "read <stream>",
		Short: "Print a stream's events: revision, type, time, data",
		Args:  exactlyOneStream,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			ctx := cmd.Context()
			client, err := t.eventStore(ctx)
			if err != nil {
				return err
			}
			defer client.Close()
			out := cmd.OutOrStdout()
			var list []eventView
			n := uint64(0)
			err = readStream(ctx, client, args[0], from, func(ev *esdb.RecordedEvent) (bool, error) {
				v := viewOf(ev)
				if output == "json" {
					list = append(list, v)
				} else if _, err := fmt.Fprintf(out, "%d\t%s\t%s\t%s\n", v.Revision, v.Time.Format(timeLayout), v.Type, compactData(v.Data)); err != nil {
					return false, err
				}
				n++
				return limit == 0 || n < limit, nil
			})
			if err != nil {
				return err
			}
			if output == "json" {
				if list == nil {
					list = []eventView{}
				}
				return writeIndentedJSON(out, list)
			}
			return nil
		},
	}
	fs := cmd.Flags()
	outputFlag(fs, &output)
	fs.Uint64Var(&from, "from", 0, "first revision to print")
	fs.Uint64Var(&limit, "limit", 0, "print at most this many events (0: all)")
	addTargetFlags(fs, &t)
	return cmd
}

// exactlyOneStream accepts one positional argument, the stream name.
func exactlyOneStream(cmd *cobra.Command, args []string) error {
	switch {
	case len(args) == 0:
		return usageError{fmt.Errorf("%s needs a stream name", cmd.CommandPath())}
	case len(args) > 1:
		return usageError{fmt.Errorf("%s takes one stream name, got %q", cmd.CommandPath(), args)}
	case args[0] == "":
		return usageError{fmt.Errorf("%s: the stream name is empty", cmd.CommandPath())}
	}
	return nil
}

func newStreamsTailCmd() *cobra.Command {
	var (
		t         target
		fromStart bool
		prefix    string
	)
	cmd := &cobra.Command{
		Use:   "tail",
		Short: "Follow $all live, one line per event, until Ctrl-C",
		Long: "Prints each new event of $all (not $ system events) as it is written, one line per\n" +
			"event: time, stream@revision, type, data. From now, or with --from-start from the\n" +
			"beginning. A dropped subscription is resumed where it stopped. Ctrl-C or SIGTERM\n" +
			"ends it with exit 0.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			client, err := t.eventStore(ctx)
			if err != nil {
				return err
			}
			defer client.Close()
			return tail(ctx, client, cmd.OutOrStdout(), cmd.ErrOrStderr(), fromStart, prefix)
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&fromStart, "from-start", false, "print the whole history first, then follow")
	fs.StringVar(&prefix, "prefix", "", "only streams whose name starts with this (e.g. ordering.order-)")
	addTargetFlags(fs, &t)
	return cmd
}

// tail follows $all with the platform's own catch-up subscription, whose
// position lives only in this process.
func tail(ctx context.Context, client *esdb.Client, out, errOut io.Writer, fromStart bool, prefix string) error {
	start := "the start"
	cps := &memCheckpoints{}
	if !fromStart {
		pos, ok, err := endOfAll(ctx, client)
		if err != nil {
			return err
		}
		if ok {
			cps.pos, cps.ok = pos, true
		}
		start = "now"
	}
	var filter *esdb.SubscriptionFilter
	if prefix != "" {
		filter = &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: []string{prefix}}
	}
	sub, err := eventstore.NewSubscription(client, eventstore.SubscriptionConfig{
		Name:        "troupe-cli-tail",
		Filter:      filter,
		Checkpoints: cps,
		Handler: func(_ context.Context, ev eventstore.RecordedEvent) error {
			if strings.HasPrefix(ev.Stream, "$") {
				return nil
			}
			_, err := fmt.Fprintf(out, "%s\t%s@%d\t%s\t%s\n", ev.Created.UTC().Format(timeLayout), ev.Stream, ev.Revision, ev.Type, compactData(dataValue(ev.Data)))
			return err
		},
		Logger: warnLogger(),
	})
	if err != nil {
		return err
	}
	stopped := make(chan struct{})
	defer close(stopped)
	go func() {
		select {
		case <-sub.CaughtUp():
			fmt.Fprintf(errOut, "following $all from %s (Ctrl-C to stop)\n", start)
		case <-stopped:
		}
	}()
	return sub.Run(ctx)
}

// endOfAll is the position of the last event in $all; ok is false when
// the store is empty.
func endOfAll(ctx context.Context, client *esdb.Client) (esdb.Position, bool, error) {
	rs, err := client.ReadAll(ctx, esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
	if err != nil {
		return esdb.Position{}, false, fmt.Errorf("read $all: %w", err)
	}
	defer rs.Close()
	re, err := rs.Recv()
	if errors.Is(err, io.EOF) {
		return esdb.Position{}, false, nil
	}
	if err != nil {
		return esdb.Position{}, false, fmt.Errorf("read $all: %w", err)
	}
	return re.OriginalEvent().Position, true, nil
}

// memCheckpoints is a CheckpointStore of one position in memory: tail
// resumes from it after a drop and forgets it on exit.
type memCheckpoints struct {
	mu  sync.Mutex
	pos esdb.Position
	ok  bool
}

func (m *memCheckpoints) Load(context.Context, string) (esdb.Position, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pos, m.ok, nil
}

func (m *memCheckpoints) Save(_ context.Context, _ string, pos esdb.Position) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pos, m.ok = pos, true
	return nil
}

// writeIndentedJSON writes v as indented JSON.
func writeIndentedJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// warnLogger is the logger of the inspection commands: warnings only
// (a dropped subscription), on stderr.
func warnLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
