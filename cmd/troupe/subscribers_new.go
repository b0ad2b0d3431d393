package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"

	"github.com/spf13/cobra"
)

// scaffoldName is the SDK's subscriber-name rule: the name becomes the
// consumer group, so it must be one Kafka and the SDK accept.
var scaffoldName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)

// newSubscribersCmd is the `troupe subscribers` parent; its subcommands
// each live in their own file.
func newSubscribersCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "subscribers",
		Short: "Work with subscribers: extensions that react to integration events",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageError{errors.New("subscribers: name a subcommand (ls, reset, new)")}
		},
	}
	cmd.AddCommand(newSubscribersLsCmd(), newSubscribersResetCmd(), newSubscribersNewCmd())
	return cmd
}

func newSubscribersNewCmd() *cobra.Command {
	var root string
	cmd := &cobra.Command{
		Use:   "new <name>",
		Short: "Scaffold a subscriber module under subscribers/<name> and add it to go.work",
		Long: `Creates subscribers/<name> (a handler, its test, a runnable main, README,
go.mod resolving the platform modules locally) and runs 'go work use' on it.
The result builds and passes its test at once; see docs/subscribers.md.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{errors.New("subscribers new: want exactly one name")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return scaffoldSubscriber(cmd.OutOrStdout(), root, args[0])
		},
	}
	cmd.Flags().StringVar(&root, "root", "", "repository root (default: the nearest directory above the working directory holding go.work)")
	return cmd
}

// scaffoldSubscriber writes the module and registers it in go.work. A bad
// or taken name is a usageError; nothing is written then.
func scaffoldSubscriber(out io.Writer, root, name string) error {
	if !scaffoldName.MatchString(name) {
		return usageError{fmt.Errorf("subscribers new: name %q must match [a-z][a-z0-9-]{0,62}", name)}
	}
	if root == "" {
		var err error
		if root, err = findWorkspaceRoot(); err != nil {
			return err
		}
	}
	if _, err := os.Stat(filepath.Join(root, "go.work")); err != nil {
		return usageError{fmt.Errorf("subscribers new: %s has no go.work; run inside the Troupe repository or pass --root", root)}
	}
	rel := filepath.Join("subscribers", name)
	dir := filepath.Join(root, rel)
	if _, err := os.Stat(dir); err == nil {
		return usageError{fmt.Errorf("subscribers new: %s already exists", rel)}
	}
	data := scaffoldData{Name: name, Pkg: strings.ReplaceAll(name, "-", "")}
	for _, f := range scaffoldFiles {
		var buf bytes.Buffer
		if err := template.Must(template.New(f.path).Delims("[[", "]]").Parse(f.text)).Execute(&buf, data); err != nil {
			return fmt.Errorf("subscribers new: render %s: %w", f.path, err)
		}
		path := filepath.Join(dir, strings.ReplaceAll(f.path, "NAME", name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("subscribers new: %w", err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			return fmt.Errorf("subscribers new: %w", err)
		}
	}
	use := exec.Command("go", "work", "use", "./"+filepath.ToSlash(rel))
	use.Dir = root
	if msg, err := use.CombinedOutput(); err != nil {
		return fmt.Errorf("subscribers new: go work use %s: %v: %s", rel, err, bytes.TrimSpace(msg))
	}
	fmt.Fprintf(out, "created %s (consumer group %q), added to go.work\nnext: cd %s && go test ./...  (see its README and docs/subscribers.md)\n", rel, name, rel)
	return nil
}

// findWorkspaceRoot returns the nearest directory at or above the working
// directory that holds go.work.
func findWorkspaceRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", usageError{errors.New("subscribers new: no go.work above the working directory; run inside the Troupe repository or pass --root")}
		}
		dir = parent
	}
}

type scaffoldData struct {
	Name string // the subscriber's name and consumer group
	Pkg  string // its Go package name
}

// scaffoldFiles are the generated module's files; "NAME" in a path is the
// subscriber's name. Templates use [[ ]] so Go code braces stay literal.
var scaffoldFiles = []struct{ path, text string }{
	{"go.mod", `module github.com/troupe-dev/troupe/subscribers/[[.Name]]

go 1.26

require (
	github.com/troupe-dev/troupe/embedded v0.0.0-00010101000000-000000000000
	github.com/troupe-dev/troupe/schemas v0.0.0-00010101000000-000000000000
	github.com/troupe-dev/troupe/shared/events v0.0.0-00010101000000-000000000000
	github.com/troupe-dev/troupe/shared/platform v0.0.0-00010101000000-000000000000
)

// Sibling modules of this repository resolve locally.
replace (
	github.com/troupe-dev/troupe/embedded => ../../embedded
	github.com/troupe-dev/troupe/schemas => ../../schemas
	github.com/troupe-dev/troupe/shared/events => ../../shared/events
	github.com/troupe-dev/troupe/shared/platform => ../../shared/platform
)
`},
	{"handler.go", `// Package [[.Pkg]] is the [[.Name]] subscriber: it reacts to Troupe's
// integration events through the subscriber SDK. Replace the example
// handler with yours; see docs/subscribers.md.
package [[.Pkg]]

import (
	"context"
	"log/slog"
	"sync"

	"github.com/troupe-dev/troupe/shared/events"
	"github.com/troupe-dev/troupe/shared/platform/messaging"
)

// Name is the subscriber's stable name: its consumer group and the prefix
// of its dead-letter topic. Renaming it re-consumes all history.
const Name = "[[.Name]]"

// Handler is the example: it totals each customer's confirmed orders in
// memory. Delivery is at least once, so it remembers the event ids it has
// counted and ignores a repeat. (State that must survive a restart belongs
// in a store; readmodel.ApplyOnce makes a Redis effect exactly once.)
type Handler struct {
	Logger *slog.Logger

	mu     sync.Mutex
	seen   map[string]bool  // event ids already counted
	totals map[string]int64 // customer id -> cents confirmed
}

// OnOrderConfirmed is called for every ordering.order_confirmed event, in
// order per order stream. Returning an error retries it, then dead-letters it.
func (h *Handler) OnOrderConfirmed(ctx context.Context, e events.OrderConfirmed, m messaging.Meta) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seen[m.EventID] {
		return nil
	}
	if h.seen == nil {
		h.seen, h.totals = map[string]bool{}, map[string]int64{}
	}
	h.seen[m.EventID] = true
	h.totals[e.CustomerID] += e.TotalCents
	if h.Logger != nil {
		h.Logger.InfoContext(ctx, "order confirmed", "order", e.OrderID, "customer", e.CustomerID, "totalCents", e.TotalCents)
	}
	return nil
}

// Total returns a customer's confirmed cents so far.
func (h *Handler) Total(customerID string) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.totals[customerID]
}

// New returns the subscriber with h's handlers registered; call Run on it.
func New(brokers []string, h *Handler) (*messaging.Subscriber, error) {
	sub, err := messaging.NewSubscriber(Name, messaging.SubscriberConfig{Brokers: brokers, Logger: h.Logger})
	if err != nil {
		return nil, err
	}
	messaging.Handle(sub, h.OnOrderConfirmed)
	return sub, nil
}
`},
	{"handler_test.go", `package [[.Pkg]]_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/troupe-dev/troupe/shared/events"
	"github.com/troupe-dev/troupe/shared/platform/messaging"
	"github.com/troupe-dev/troupe/shared/platform/testinfra"
	"github.com/troupe-dev/troupe/subscribers/[[.Name]]"
)

// TestCountsConfirmedOrdersOnce runs the subscriber on an embedded broker:
// two orders confirmed, one of them delivered twice, are counted once each.
func TestCountsConfirmedOrdersOnce(t *testing.T) {
	t.Parallel()
	brokers := testinfra.EmbeddedKafka(t)
	publish(t, brokers,
		events.OrderConfirmed{OrderID: "0b7e7c1e-6a0f-4d4c-9d43-2a8f1c3e5b71", CustomerID: "alice", TotalCents: 1500},
		events.OrderConfirmed{OrderID: "5f1d2c3b-4a59-4e6f-8a7b-9c0d1e2f3a4b", CustomerID: "alice", TotalCents: 250},
		events.OrderConfirmed{OrderID: "5f1d2c3b-4a59-4e6f-8a7b-9c0d1e2f3a4b", CustomerID: "alice", TotalCents: 250}, // redelivered
	)
	h := &[[.Pkg]].Handler{}
	sub, err := [[.Pkg]].New(brokers, h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sub.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for h.Total("alice") != 1750 {
		if time.Now().After(deadline) {
			t.Fatalf("alice's total is %d, want 1750", h.Total("alice"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// publish sends events as Troupe's relay does: the context's topic, key =
// stream, the design's headers (the event id is deterministic per stream
// and revision, so a re-publication is a duplicate).
func publish(t *testing.T, brokers []string, evs ...events.OrderConfirmed) {
	t.Helper()
	cfg := messaging.NewSaramaConfig("test-publisher")
	topic := messaging.TopicFor(events.ContextOrdering)
	if err := messaging.EnsureTopics(brokers, cfg, topic); err != nil {
		t.Fatal(err)
	}
	prod, err := sarama.NewSyncProducer(brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	for _, e := range evs {
		b, _ := json.Marshal(e)
		stream := "ordering.order-" + e.OrderID
		h := map[string]string{
			messaging.HeaderEventID: stream + "@3", messaging.HeaderEventType: e.EventType(),
			messaging.HeaderStream: stream, messaging.HeaderRevision: "3",
			messaging.HeaderOccurredAt: time.Now().UTC().Format(time.RFC3339Nano), messaging.HeaderContentType: messaging.ContentTypeJSON,
		}
		var rh []sarama.RecordHeader
		for k, v := range h {
			rh = append(rh, sarama.RecordHeader{Key: []byte(k), Value: []byte(v)})
		}
		msg := &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(stream),
			Value: sarama.ByteEncoder(b), Headers: rh}
		if _, _, err := prod.SendMessage(msg); err != nil {
			t.Fatal(err)
		}
	}
}
`},
	{"cmd/NAME/main.go", `// Command [[.Name]] runs the [[.Name]] subscriber against the Kafka brokers
// of TROUPE_KAFKA_BROKERS (comma-separated) until interrupted.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/troupe-dev/troupe/subscribers/[[.Name]]"
)

func main() {
	brokers := os.Getenv("TROUPE_KAFKA_BROKERS")
	if brokers == "" {
		fmt.Fprintln(os.Stderr, "[[.Name]]: set TROUPE_KAFKA_BROKERS (troupe up writes it to <data dir>/endpoints.json as \"kafka\")")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	h := &[[.Pkg]].Handler{Logger: slog.Default()}
	sub, err := [[.Pkg]].New(strings.Split(brokers, ","), h)
	if err == nil {
		err = sub.Run(ctx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "[[.Name]]:", err)
		os.Exit(1)
	}
}
`},
	{"README.md", `# subscribers/[[.Name]]

A Troupe subscriber built on the SDK (shared/platform/messaging): consumer
group ` + "`[[.Name]]`" + `, dead letters ` + "`[[.Name]].dlq`" + `. Started on a platform that
already has history, it catches up from the oldest offset, then follows live.
Edit ` + "`handler.go`" + ` (the example totals confirmed orders); the guide is
docs/subscribers.md.

Run against a platform started with ` + "`troupe up`" + ` (its Kafka address is in
` + "`<data dir>/endpoints.json`" + `):

    TROUPE_KAFKA_BROKERS=127.0.0.1:PORT go run ./cmd/[[.Name]]

Test (embedded Kafka, no setup):

    cd subscribers/[[.Name]] && go test -race ./...
`},
}
