package adapters_test

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"os"
	"reflect"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/troupe-dev/troupe/contexts/catalog/adapters"
	"github.com/troupe-dev/troupe/contexts/catalog/domain/product"
	"github.com/troupe-dev/troupe/contexts/catalog/domain/reservation"
	esserver "github.com/troupe-dev/troupe/embedded/eventstore"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

// forEachStore runs fn against the embedded event store and, when
// TROUPE_TEST_EVENTSTORE_URL names one, a real KurrentDB.
func forEachStore(t *testing.T, fn func(t *testing.T, client *esdb.Client)) {
	t.Run("embedded", func(t *testing.T) {
		srv, err := esserver.Start(context.Background(), esserver.Config{DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = srv.Close() })
		fn(t, dial(t, srv.URL()))
	})
	t.Run("kurrentdb", func(t *testing.T) {
		url := os.Getenv("TROUPE_TEST_EVENTSTORE_URL")
		if url == "" {
			t.Skip("TROUPE_TEST_EVENTSTORE_URL is not set")
		}
		fn(t, dial(t, url))
	})
}

func dial(t *testing.T, url string) *esdb.Client {
	t.Helper()
	c, err := eventstore.Dial(url, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestStateAtFoldsAProductAroundItsSnapshot: a product with more events
// than ProductSnapshotEvery has a snapshot; StateAt before it folds from
// the start, at the end it gives the latest state, and a hold shows up
// with its status.
func TestStateAtFoldsAProductAroundItsSnapshot(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, client *esdb.Client) {
		ctx := context.Background()
		sku := "T-" + rand.Text()
		repo, err := adapters.NewProductRepository(client, adapters.Events(), 0)
		if err != nil {
			t.Fatal(err)
		}
		// rev 0 listed; revs 1..250 one unit each; rev 251 reserved; rev 252 committed.
		steps := []func(*product.Product) error{
			func(p *product.Product) error { return p.List("Thing", 250, "EUR") },
			func(p *product.Product) error {
				for range adapters.ProductSnapshotEvery + 50 {
					if err := p.ReceiveStock(1); err != nil {
						return err
					}
				}
				return nil
			},
			func(p *product.Product) error { return p.Reserve("o1", 4) },
			func(p *product.Product) error { return p.Commit("o1") },
		}
		for _, step := range steps {
			if _, err := repo.Update(ctx, sku, step); err != nil {
				t.Fatal(err)
			}
		}
		snaps, err := client.ReadStream(ctx, eventstore.SnapshotStream(repo.Stream(sku)), esdb.ReadStreamOptions{}, 1)
		if err == nil {
			_, err = snaps.Recv()
			snaps.Close()
		}
		if err != nil {
			t.Fatalf("no snapshot was written, so this test would not cover one: %v", err)
		}
		at := func(rev uint64) *adapters.ProductState {
			t.Helper()
			s, ok, err := adapters.StateAt(ctx, client, repo.Stream(sku), rev)
			if err != nil || !ok {
				t.Fatalf("StateAt(%d) = %v, %v", rev, ok, err)
			}
			return s.(*adapters.ProductState)
		}
		want0 := &adapters.ProductState{SKU: sku, Listed: true, Name: "Thing", PriceCents: 250, Currency: "EUR", Holds: map[string]adapters.HoldState{}}
		if got := at(0); !reflect.DeepEqual(got, want0) {
			t.Fatalf("product at 0 = %+v\nwant %+v", got, want0)
		}
		if got := at(10); got.Received != 10 || got.Available != 10 {
			t.Fatalf("product at 10 = %+v", got)
		}
		if got := at(251); got.Available != 246 || got.Reserved != 4 || got.Holds["o1"] != (adapters.HoldState{Quantity: 4, Status: "reserved"}) {
			t.Fatalf("product at 251 = %+v", got)
		}
		if got := at(252); got.Received != 250 || got.Available != 246 || got.Reserved != 0 || got.Committed != 4 || got.Holds["o1"].Status != "committed" {
			t.Fatalf("product at 252 = %+v", got)
		}
	})
}

// TestStateAtFoldsAReservation: a reservation through request, reserve and
// commit, seen at each revision.
func TestStateAtFoldsAReservation(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, client *esdb.Client) {
		ctx := context.Background()
		orderID := "o-" + rand.Text()
		repo, err := adapters.NewReservationRepository(client, adapters.Events(), 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, step := range []func(*reservation.Reservation) error{
			func(r *reservation.Reservation) error {
				return r.Request([]reservation.Line{{SKU: "AAA", Quantity: 2}, {SKU: "BBB", Quantity: 1}}, "e1")
			},
			func(r *reservation.Reservation) error { r.MarkReserved(); return nil },
			func(r *reservation.Reservation) error { return r.Confirm("e2") },
			func(r *reservation.Reservation) error { r.MarkCommitted(); return nil },
		} {
			if _, err := repo.Update(ctx, orderID, step); err != nil {
				t.Fatal(err)
			}
		}
		lines := []adapters.LineState{{SKU: "AAA", Quantity: 2}, {SKU: "BBB", Quantity: 1}}
		for rev, want := range []adapters.ReservationState{
			{OrderID: orderID, Status: "requested", Lines: lines},
			{OrderID: orderID, Status: "reserved", Lines: lines, Done: true},
			{OrderID: orderID, Status: "committing", Lines: lines},
			{OrderID: orderID, Status: "committed", Lines: lines, Done: true},
		} {
			s, ok, err := adapters.StateAt(ctx, client, repo.Stream(orderID), uint64(rev))
			if err != nil || !ok {
				t.Fatalf("StateAt(%d) = %v, %v", rev, ok, err)
			}
			if got := s.(*adapters.ReservationState); !reflect.DeepEqual(*got, want) {
				t.Errorf("reservation at %d = %+v\nwant %+v", rev, *got, want)
			}
		}
	})
}

// TestStateAtRefusals: streams of other contexts are not the catalog's (ok
// false), a missing stream is ErrNotFound, a malformed id ErrInvalidID.
func TestStateAtRefusals(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, client *esdb.Client) {
		ctx := context.Background()
		for _, stream := range []string{"ordering.order-x", "troupe.checkpoint-relay", "catalog.products-X", "$all"} {
			if s, ok, err := adapters.StateAt(ctx, client, stream, 0); ok || err != nil || s != nil {
				t.Errorf("StateAt(%s) = %v, %v, %v; want not the catalog's", stream, s, ok, err)
			}
		}
		if _, ok, err := adapters.StateAt(ctx, client, "catalog.product-NONE-"+rand.Text(), 0); !ok || !errors.Is(err, eventstore.ErrNotFound) {
			t.Errorf("missing product: %v, %v; want ErrNotFound", ok, err)
		}
		if _, ok, err := adapters.StateAt(ctx, client, "catalog.reservation-a b", 0); !ok || !errors.Is(err, eventstore.ErrInvalidID) {
			t.Errorf("malformed id: %v, %v; want ErrInvalidID", ok, err)
		}
	})
}
