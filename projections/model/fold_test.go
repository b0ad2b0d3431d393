package model_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/troupe-dev/troupe/projections/internal/scenario"
	"github.com/troupe-dev/troupe/projections/model"
	"github.com/troupe-dev/troupe/shared/events"
	"github.com/troupe-dev/troupe/shared/platform/readmodel"
	"github.com/troupe-dev/troupe/shared/platform/testinfra"
)

// fold builds msgs into a new generation with a Folder, writing a batch
// every batch events (handing each written batch back to be reused when
// reuse is set, as a rebuild does), and returns the model and its
// generation.
func fold(t *testing.T, rdb *redis.Client, msgs []scenario.Msg, batch int, reuse bool) (*model.Model, string) {
	t.Helper()
	ctx := context.Background()
	m := model.New(testinfra.KeyPrefix(t))
	gen := readmodel.NewGeneration()
	f := m.Folder(gen)
	flush := func() {
		pipe := rdb.Pipeline()
		b := f.Take()
		b.Queue(ctx, pipe, m.Namespace(), gen)
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
		if reuse {
			f.Reuse(b)
		}
	}
	for i, msg := range msgs {
		ev, err := model.Encode(msg.Event, model.Source{Stream: msg.Stream, Revision: msg.Revision, OccurredAt: msg.OccurredAt,
			Topic: "t", Partition: int32(i % 3), Offset: int64(i)})
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Fold(ev); err != nil {
			t.Fatal(err)
		}
		if (i+1)%batch == 0 {
			flush()
		}
	}
	flush()
	if _, err := m.Namespace().Create(ctx, rdb, gen); err != nil {
		t.Fatal(err)
	}
	return m, gen
}

// TestFoldEqualsApply: folding a history in batches of any size, with
// every event delivered twice and streams interleaved in any order, gives
// the model apply.lua gives (checksum of all keys, applied revisions
// included); and apply.lua continues on a folded model as on its own (the
// live subscriber after a rebuild's switch).
func TestFoldEqualsApply(t *testing.T) {
	t.Parallel()
	testinfra.ForEachRedis(t, func(t *testing.T, rb testinfra.RedisBackend) {
		t.Parallel()
		rdb := client(t, rb.URL)
		h := scenario.History(scenario.Config{Orders: 60, Products: 6, Customers: 4, Seed: 3})
		m, gen := build(t, rdb, h, false)
		want := checksum(t, rdb, m, gen)

		var twice []scenario.Msg
		for _, msg := range h {
			twice = append(twice, msg, msg)
		}
		for _, tc := range []struct {
			name  string
			msgs  []scenario.Msg
			batch int
			reuse bool
		}{
			{"one event per batch", h, 1, false},
			{"one event per batch, batches reused", h, 1, true},
			{"batches of 7", h, 7, false},
			{"batches of 7, reused", h, 7, true},
			{"one batch", h, len(h), false},
			{"duplicates", twice, 16, true},
			{"interleaved", scenario.Interleave(h, 5), 32, true},
			{"interleaved duplicates", scenario.Interleave(twice, 6), 64, false},
		} {
			fm, fgen := fold(t, rdb, tc.msgs, tc.batch, tc.reuse)
			if got := checksum(t, rdb, fm, fgen); got != want {
				t.Errorf("%s: the folded model differs from the applied one", tc.name)
			}
		}

		// The first half folded, the rest applied live with apply.lua.
		half := len(h) / 2
		fm, fgen := fold(t, rdb, h[:half], 10, true)
		for _, msg := range h {
			ev, _ := model.Encode(msg.Event, model.Source{Stream: msg.Stream, Revision: msg.Revision, OccurredAt: msg.OccurredAt})
			if _, err := fm.Applier().Apply(context.Background(), rdb, "", ev); err != nil {
				t.Fatal(err)
			}
		}
		if got := checksum(t, rdb, fm, fgen); got != want {
			t.Error("apply.lua continuing on a folded model differs from the applied one")
		}
	})
}

// TestEncodeRefusesUnsafeIdentifiers: identifiers that could break the
// packed members (separators, spaces, empty, too long) are ErrBadEvent;
// the design's shapes pass.
func TestEncodeRefusesUnsafeIdentifiers(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("A", 65)
	for sku, ok := range map[string]bool{"SKU-001": true, "a.b_c-9": true, strings.Repeat("A", 64): true,
		"": false, "A|B": false, "A B": false, "A;B": false, long: false, "É": false} {
		_, err := model.Encode(events.StockReceived{SKU: sku, Quantity: 1}, model.Source{Stream: "catalog.product-X", Revision: 1})
		if ok != (err == nil) || (err != nil && !errors.Is(err, model.ErrBadEvent)) {
			t.Errorf("sku %q: %v", sku, err)
		}
	}
}
