package messaging_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/troupe-dev/troupe/shared/events"
	"github.com/troupe-dev/troupe/shared/platform/messaging"
	"github.com/troupe-dev/troupe/shared/platform/testinfra"
)

// publishAt sends one event with the given record time.
func (r *rig) publishAt(stream string, rev uint64, at time.Time, e events.Event) {
	r.t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		r.t.Fatal(err)
	}
	h := []sarama.RecordHeader{
		{Key: []byte(messaging.HeaderEventID), Value: []byte(fmt.Sprintf("%s@%d", stream, rev))},
		{Key: []byte(messaging.HeaderEventType), Value: []byte(e.EventType())},
		{Key: []byte(messaging.HeaderStream), Value: []byte(stream)},
		{Key: []byte(messaging.HeaderRevision), Value: []byte(fmt.Sprint(rev))},
		{Key: []byte(messaging.HeaderOccurredAt), Value: []byte(at.UTC().Format(time.RFC3339Nano))},
		{Key: []byte(messaging.HeaderContentType), Value: []byte(messaging.ContentTypeJSON)},
	}
	_, _, err = r.prod.SendMessage(&sarama.ProducerMessage{Topic: r.topic, Key: sarama.StringEncoder(stream),
		Value: sarama.ByteEncoder(b), Headers: h, Timestamp: at})
	if err != nil {
		r.t.Fatalf("publish: %v", err)
	}
}

// TestPauseResetResume: a running subscriber is paused, its group moved to
// the earliest offsets, and resumed without Run returning; every event is
// delivered again, in order per stream, and OnReset sees the offsets first.
func TestPauseResetResume(t *testing.T) {
	t.Parallel()
	testinfra.ForEachKafka(t, func(t *testing.T, kb testinfra.KafkaBackend) {
		t.Parallel()
		r := newRig(t, kb.Brokers)
		const streams, perStream = 4, 5
		for i := 0; i < perStream; i++ {
			for s := 0; s < streams; s++ {
				r.publish(fmt.Sprintf("catalog.product-R%d", s), uint64(i), events.StockReceived{SKU: "SKU-R", Quantity: 1})
			}
		}
		var rec recorder
		var hookOffsets atomic.Int64
		hookOffsets.Store(-1)
		s, err := messaging.NewSubscriber(r.name, messaging.SubscriberConfig{
			Brokers: r.brokers, Topics: []string{r.topic},
			OnReset: func(_ context.Context, to []messaging.PartitionOffset) error {
				var sum int64
				for _, po := range to {
					sum += po.Offset
				}
				hookOffsets.Store(sum)
				return nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		messaging.Handle(s, func(_ context.Context, _ events.StockReceived, m messaging.Meta) error { rec.add(m); return nil })
		if got := s.State(); got != messaging.StateStopped {
			t.Fatalf("state before Run = %s", got)
		}
		if err := s.Pause(context.Background()); !errors.Is(err, messaging.ErrNotRunning) {
			t.Fatalf("Pause before Run = %v, want ErrNotRunning", err)
		}
		run(t, s)
		waitFor(t, "all events", func() bool { return rec.count() == streams*perStream })

		if err := s.Pause(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := s.State(); got != messaging.StatePaused {
			t.Fatalf("state after Pause = %s", got)
		}
		if err := s.Pause(context.Background()); !errors.Is(err, messaging.ErrPaused) {
			t.Fatalf("second Pause = %v, want ErrPaused", err)
		}
		s.Resume()
		if got := s.State(); got != messaging.StateRunning {
			t.Fatalf("state after Resume = %s", got)
		}
		// Pausing right after a resume (before the next membership began)
		// still ends with the group empty, or the reset below would fail.
		for i := 0; i < 3; i++ {
			if err := s.Pause(context.Background()); err != nil {
				t.Fatal(err)
			}
			s.Resume()
		}

		to, err := s.Reset(context.Background(), messaging.ResetTo{Earliest: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(to) != messaging.TopicPartitions || hookOffsets.Load() != 0 {
			t.Fatalf("reset offsets %+v, OnReset saw sum %d; want %d partitions at 0", to, hookOffsets.Load(), messaging.TopicPartitions)
		}
		if got := s.State(); got != messaging.StateRunning {
			t.Fatalf("state after Reset = %s", got)
		}
		waitFor(t, "every event again", func() bool { return rec.count() == 2*streams*perStream })
		for i := 0; i < streams; i++ {
			got := rec.get(fmt.Sprintf("catalog.product-R%d", i))
			if fmt.Sprint(got) != "[0 1 2 3 4 0 1 2 3 4]" {
				t.Fatalf("stream R%d handled %v, want history twice, in order", i, got)
			}
		}
		// Events published after the reset are consumed by the resumed group.
		r.publish("catalog.product-R0", perStream, events.StockReceived{SKU: "SKU-R", Quantity: 1})
		waitFor(t, "a new event after the reset", func() bool { return len(rec.get("catalog.product-R0")) == 2*perStream+1 })
	})
}

// TestResetToTime: a reset to a time re-delivers the events recorded at or
// after it, and only those.
func TestResetToTime(t *testing.T) {
	t.Parallel()
	testinfra.ForEachKafka(t, func(t *testing.T, kb testinfra.KafkaBackend) {
		t.Parallel()
		r := newRig(t, kb.Brokers)
		old, recent := time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour)
		for i := 0; i < 3; i++ {
			r.publishAt("catalog.product-T", uint64(i), old, events.StockReceived{SKU: "SKU-T", Quantity: 1})
		}
		for i := 3; i < 6; i++ {
			r.publishAt("catalog.product-T", uint64(i), recent, events.StockReceived{SKU: "SKU-T", Quantity: 1})
		}
		var rec recorder
		s := r.subscriber(messaging.Hooks{})
		messaging.Handle(s, func(_ context.Context, _ events.StockReceived, m messaging.Meta) error { rec.add(m); return nil })
		run(t, s)
		waitFor(t, "all events", func() bool { return rec.count() == 6 })
		to, err := messaging.ParseResetTo(old.Add(30 * time.Minute).Format(time.RFC3339))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Reset(context.Background(), to); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the recent events again", func() bool { return rec.count() == 9 })
		if got := fmt.Sprint(rec.get("catalog.product-T")); got != "[0 1 2 3 4 5 3 4 5]" {
			t.Fatalf("handled %s, want the recent three again", got)
		}
	})
}

// TestResetRefusedAndBareCluster: a subscriber with a ResetRefusal is
// refused and keeps running; ResetGroup refuses while the group has
// members and moves it once they left.
func TestResetRefusedAndBareCluster(t *testing.T) {
	t.Parallel()
	testinfra.ForEachKafka(t, func(t *testing.T, kb testinfra.KafkaBackend) {
		t.Parallel()
		r := newRig(t, kb.Brokers)
		for i := 0; i < 4; i++ {
			r.publish(fmt.Sprintf("catalog.product-B%d", i), 0, events.StockReceived{SKU: "SKU-B", Quantity: 1})
		}
		var rec recorder
		s, err := messaging.NewSubscriber(r.name, messaging.SubscriberConfig{
			Brokers: r.brokers, Topics: []string{r.topic}, ResetRefusal: "use the rebuild instead",
		})
		if err != nil {
			t.Fatal(err)
		}
		messaging.Handle(s, func(_ context.Context, _ events.StockReceived, m messaging.Meta) error { rec.add(m); return nil })
		stop := run(t, s)
		waitFor(t, "all events", func() bool { return rec.count() == 4 })
		if _, err := s.Reset(context.Background(), messaging.ResetTo{Earliest: true}); !errors.Is(err, messaging.ErrNotResettable) ||
			s.State() != messaging.StateRunning {
			t.Fatalf("Reset = %v (state %s), want ErrNotResettable and still running", err, s.State())
		}
		cfg := messaging.NewSaramaConfig("reset-test")
		_, err = messaging.ResetGroup(context.Background(), r.brokers, cfg, r.name, []string{r.topic}, messaging.ResetTo{Earliest: true})
		if !errors.Is(err, messaging.ErrGroupHasMembers) {
			t.Fatalf("ResetGroup with a member = %v, want ErrGroupHasMembers", err)
		}
		stop()
		waitFor(t, "zero lag", func() bool {
			lag, err := s.Lag()
			var n int64
			for _, l := range lag {
				n += l.Lag
			}
			return err == nil && n == 0
		})
		topics, err := messaging.GroupTopics(r.brokers, cfg, r.name)
		if err != nil || fmt.Sprint(topics) != fmt.Sprint([]string{r.topic}) {
			t.Fatalf("GroupTopics = %v, %v", topics, err)
		}
		waitFor(t, "the group to be empty", func() bool {
			_, err = messaging.ResetGroup(context.Background(), r.brokers, cfg, r.name, topics, messaging.ResetTo{Earliest: true})
			return !errors.Is(err, messaging.ErrGroupHasMembers)
		})
		if err != nil {
			t.Fatal(err)
		}
		lag, err := s.Lag()
		var n int64
		for _, l := range lag {
			n += l.Lag
		}
		if err != nil || n != 4 {
			t.Fatalf("lag after ResetGroup = %d, %v; want 4", n, err)
		}
	})
}

// TestParseResetTo: "earliest" and RFC 3339 times parse; anything else is
// ErrInvalidResetTo.
func TestParseResetTo(t *testing.T) {
	for in, want := range map[string]string{"earliest": "earliest", "2026-01-02T03:04:05Z": "2026-01-02T03:04:05Z",
		"2026-01-02T04:04:05+01:00": "2026-01-02T03:04:05Z"} {
		got, err := messaging.ParseResetTo(in)
		if err != nil || got.String() != want {
			t.Errorf("ParseResetTo(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"", "latest", "yesterday", "2026-01-02"} {
		if _, err := messaging.ParseResetTo(in); !errors.Is(err, messaging.ErrInvalidResetTo) {
			t.Errorf("ParseResetTo(%q) = %v, want ErrInvalidResetTo", in, err)
		}
	}
}

// TestRedriveOneByID: one dead letter is redriven by id; one parked behind
// an earlier failure of its stream is refused; an unknown id is an error;
// the rest is redriven in order afterwards and the DLQ is empty.
func TestRedriveOneByID(t *testing.T) {
	t.Parallel()
	testinfra.ForEachKafka(t, func(t *testing.T, kb testinfra.KafkaBackend) {
		t.Parallel()
		r := newRig(t, kb.Brokers)
		var broken atomic.Bool
		broken.Store(true)
		var rec recorder
		var deadLettered atomic.Int64
		s := r.subscriber(messaging.Hooks{DeadLettered: func(messaging.Meta, string) { deadLettered.Add(1) }})
		messaging.Handle(s, func(_ context.Context, e events.StockReceived, m messaging.Meta) error {
			if e.SKU == "BAD" && broken.Load() {
				return errors.New("boom")
			}
			rec.add(m)
			return nil
		})
		run(t, s)
		// Both BAD streams fail at revision 0; the second event of each is
		// parked behind the first.
		for _, st := range []string{"catalog.product-X1", "catalog.product-X2"} {
			r.publish(st, 0, events.StockReceived{SKU: "BAD", Quantity: 1})
			r.publish(st, 1, events.StockReceived{SKU: "OK-1", Quantity: 1})
		}
		waitFor(t, "four dead letters", func() bool { return deadLettered.Load() == 4 })
		broken.Store(false)
		ctx := context.Background()
		if _, err := s.RedriveID(ctx, "catalog.product-X1@1"); !errors.Is(err, messaging.ErrRedriveOrder) {
			t.Fatalf("redrive of a parked one = %v, want ErrRedriveOrder", err)
		}
		if _, err := s.RedriveID(ctx, "nope"); !errors.Is(err, messaging.ErrNoDeadLetter) {
			t.Fatalf("redrive of an unknown id = %v, want ErrNoDeadLetter", err)
		}
		if n, err := s.RedriveID(ctx, "catalog.product-X2@0"); err != nil || n != 1 {
			t.Fatalf("RedriveID = %d, %v; want 1", n, err)
		}
		if n, err := s.RedriveID(ctx, "catalog.product-X2@1"); err != nil || n != 1 {
			t.Fatalf("RedriveID of the next = %d, %v; want 1", n, err)
		}
		dl, err := s.DeadLetters(ctx)
		if err != nil || len(dl) != 2 || dl[0].EventID != "catalog.product-X1@0" || dl[1].EventID != "catalog.product-X1@1" {
			t.Fatalf("dead letters after RedriveID = %+v, %v; want X1's two", dl, err)
		}
		// X2 is unparked: its next event is handled live.
		r.publish("catalog.product-X2", 2, events.StockReceived{SKU: "OK-1", Quantity: 1})
		waitFor(t, "X2 live again", func() bool { return len(rec.get("catalog.product-X2")) == 3 })
		if got := fmt.Sprint(rec.get("catalog.product-X2")); got != "[0 1 2]" {
			t.Fatalf("X2 handled %s, want [0 1 2]", got)
		}
		if n, err := s.Redrive(ctx); err != nil || n != 2 {
			t.Fatalf("Redrive = %d, %v; want 2", n, err)
		}
		if got := fmt.Sprint(rec.get("catalog.product-X1")); got != "[0 1]" {
			t.Fatalf("X1 handled %s, want [0 1]", got)
		}
		if dl, err := s.DeadLetters(ctx); err != nil || len(dl) != 0 {
			t.Fatalf("dead letters at the end = %+v, %v", dl, err)
		}
	})
}
