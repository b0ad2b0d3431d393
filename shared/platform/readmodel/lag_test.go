package readmodel_test

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/troupe-dev/troupe/shared/platform/messaging"
	"github.com/troupe-dev/troupe/shared/platform/readmodel"
	"github.com/troupe-dev/troupe/shared/platform/testinfra"
)

// TestEndOffsets: records past the stored offsets are counted per
// partition, a partition without a stored offset counts from the oldest,
// and the meter keeps working after Close (it reconnects).
func TestEndOffsets(t *testing.T) {
	t.Parallel()
	testinfra.ForEachKafka(t, func(t *testing.T, kb testinfra.KafkaBackend) {
		t.Parallel()
		cfg := messaging.NewSaramaConfig("lag-test")
		a, b := testinfra.Topic(t, "lag-a"), testinfra.Topic(t, "lag-b")
		if err := messaging.EnsureTopics(kb.Brokers, cfg, a, b); err != nil {
			t.Fatal(err)
		}
		pcfg := messaging.NewSaramaConfig("lag-test")
		pcfg.Producer.Partitioner = sarama.NewManualPartitioner
		prod, err := sarama.NewSyncProducer(kb.Brokers, pcfg)
		if err != nil {
			t.Fatal(err)
		}
		defer prod.Close()
		send := func(topic string, p int32, n int) {
			for i := 0; i < n; i++ {
				if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: p, Value: sarama.StringEncoder("x")}); err != nil {
					t.Fatal(err)
				}
			}
		}
		send(a, 0, 5)
		send(a, 1, 2)
		send(b, 3, 5)

		m := readmodel.NewEndOffsets(kb.Brokers, cfg, "", []string{a, b})
		defer m.Close()
		for _, tc := range []struct {
			name   string
			stored map[string]int64
			want   int64
		}{
			{"nothing stored", nil, 12},
			{"part stored", map[string]int64{readmodel.OffsetField(a, 0): 3}, 9},
			{"all stored", map[string]int64{readmodel.OffsetField(a, 0): 5, readmodel.OffsetField(a, 1): 2, readmodel.OffsetField(b, 3): 5}, 0},
		} {
			got, err := m.Behind(tc.stored)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("%s: behind %d, want %d", tc.name, got, tc.want)
			}
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		send(b, 0, 1)
		if got, err := m.Behind(nil); err != nil || got != 13 {
			t.Fatalf("after Close and one more record: behind %d, %v; want 13", got, err)
		}

		// The group committed past a record the model skipped: the later
		// of stored and committed counts.
		group := testinfra.UniqueName(t, "g")
		if err := readmodel.SeekGroup(kb.Brokers, cfg, group, []string{a}, map[string]int64{readmodel.OffsetField(a, 0): 4}); err != nil {
			t.Fatal(err)
		}
		g := readmodel.NewEndOffsets(kb.Brokers, cfg, group, []string{a, b})
		defer g.Close()
		for stored, want := range map[int64]int64{3: 9, 5: 8} {
			got, err := g.Behind(map[string]int64{readmodel.OffsetField(a, 0): stored})
			if err != nil || got != want {
				t.Errorf("stored %d on a/0, committed 4: behind %d, %v; want %d", stored, got, err, want)
			}
		}
	})
}

// TestLagging: lag is flagged past the event threshold, or when behind
// with an old newest event; a model that is merely idle is not lagging.
func TestLagging(t *testing.T) {
	for _, tc := range []struct {
		lag  readmodel.Lag
		want bool
	}{
		{readmodel.Lag{}, false},
		{readmodel.Lag{Behind: 0, Age: time.Hour}, false},
		{readmodel.Lag{Behind: 10, Age: time.Second}, false},
		{readmodel.Lag{Behind: 10, Age: time.Minute}, true},
		{readmodel.Lag{Behind: readmodel.LagEvents + 1}, true},
	} {
		if got := tc.lag.Lagging(); got != tc.want {
			t.Errorf("%+v: lagging %v, want %v", tc.lag, got, tc.want)
		}
	}
}

// TestMonitor: measurements are reused within the TTL, statuses carry the
// figures (or the error), and /metrics exposes the gauges by model and
// group, leaving out a model that cannot be measured.
func TestMonitor(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	newest := time.Now().Add(-90 * time.Second).Truncate(time.Millisecond)
	m := readmodel.NewMonitor(readmodel.MonitorConfig{
		TTL: time.Hour,
		ReadModels: map[string]readmodel.LagFunc{
			"projections": func(context.Context) (readmodel.Lag, error) {
				calls.Add(1)
				return readmodel.Lag{Behind: 42, NewestApplied: newest}, nil
			},
			"broken": func(context.Context) (readmodel.Lag, error) { return readmodel.Lag{}, errors.New("redis is down") },
		},
		Groups: map[string]readmodel.GroupLagFunc{"projections": func(context.Context) (int64, error) { return 7, nil }},
	})
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		st := m.Statuses(ctx)
		p := st["projections"]
		if p.Behind != 42 || p.NewestApplied == nil || !p.NewestApplied.Equal(newest) || p.AgeSeconds < 89 || !p.Lagging {
			t.Fatalf("projections status %+v", p)
		}
		if st["broken"].Error != "redis is down" {
			t.Fatalf("broken status %+v", st["broken"])
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("lag measured %d times within the TTL, want once", n)
	}

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	text := string(body)
	for _, want := range []string{
		`troupe_readmodel_lag_events{model="projections"} 42`,
		`troupe_readmodel_newest_applied_age_seconds{model="projections"} `,
		`troupe_subscriber_lag_events{group="projections"} 7`,
		`go_goroutines `,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(text, `model="broken"`) {
		t.Error("a model that cannot be measured is exposed")
	}
	if calls.Load() != 1 {
		t.Fatal("a scrape within the TTL measured again")
	}
}
