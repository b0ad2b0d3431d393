package adapters_test

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/troupe-dev/troupe/contexts/ordering/adapters"
	"github.com/troupe-dev/troupe/contexts/ordering/domain/order"
	"github.com/troupe-dev/troupe/contexts/ordering/domain/pricebook"
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

// TestStateAtFoldsAnOrderToARevision: an order placed, reserved and
// confirmed through ordering's repository, seen at each revision.
func TestStateAtFoldsAnOrderToARevision(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, client *esdb.Client) {
		ctx := context.Background()
		orderID := "o-" + rand.Text()
		repo, err := adapters.NewOrderRepository(client, adapters.NewEventRegistry())
		if err != nil {
			t.Fatal(err)
		}
		line, err := order.NewLine("SKU-1", 2, 250)
		if err != nil {
			t.Fatal(err)
		}
		addr, err := order.NewAddress("Ada", "1 Main St", "", "Berlin", "10115", "DE")
		if err != nil {
			t.Fatal(err)
		}
		placedAt := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		for _, step := range []func(*order.Order) error{
			func(o *order.Order) error {
				return o.Place(order.Placement{CustomerID: "c1", Lines: []order.Line{line}, Currency: "EUR",
					PaymentMethod: order.PaymentWallet, PlacedAt: placedAt, Deadline: placedAt.Add(time.Minute), ShippingAddress: addr})
			},
			func(o *order.Order) error { return o.MarkReserved("e1") },
			func(o *order.Order) error { return o.Confirm("e2") },
		} {
			if _, err := repo.Update(ctx, orderID, step); err != nil {
				t.Fatal(err)
			}
		}
		placed := adapters.OrderState{
			OrderID: orderID, CustomerID: "c1", Status: "PENDING",
			Lines:      []adapters.LineState{{SKU: "SKU-1", Quantity: 2, UnitPriceCents: 250}},
			TotalCents: 500, Currency: "EUR", PaymentMethod: "wallet", PlacedAt: placedAt, Deadline: placedAt.Add(time.Minute),
			ShippingAddress: &adapters.AddressState{Recipient: "Ada", Line1: "1 Main St", City: "Berlin", PostalCode: "10115", Country: "DE"},
		}
		for rev, status := range []string{"PENDING", "RESERVED", "CONFIRMED"} {
			s, ok, err := adapters.StateAt(ctx, client, repo.Stream(orderID), uint64(rev))
			if err != nil || !ok {
				t.Fatalf("StateAt(%d) = %v, %v", rev, ok, err)
			}
			want := placed
			want.Status = status
			if got := s.(*adapters.OrderState); !reflect.DeepEqual(*got, want) {
				t.Errorf("order at %d = %+v\nwant %+v", rev, *got, want)
			}
		}
	})
}

// TestStateAtFoldsAPriceBookEntry: a listed then repriced SKU, at both
// revisions.
func TestStateAtFoldsAPriceBookEntry(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, client *esdb.Client) {
		ctx := context.Background()
		sku := "P-" + rand.Text()
		repo, err := adapters.NewPriceBookRepository(client, adapters.NewEventRegistry())
		if err != nil {
			t.Fatal(err)
		}
		for _, step := range []func(*pricebook.Entry) error{
			func(e *pricebook.Entry) error { return e.List("Thing", 100, "EUR", 0) },
			func(e *pricebook.Entry) error { return e.Reprice(120, "EUR", 1) },
		} {
			if _, err := repo.Update(ctx, sku, step); err != nil {
				t.Fatal(err)
			}
		}
		for rev, price := range []int64{100, 120} {
			s, ok, err := adapters.StateAt(ctx, client, "ordering.pricebook-"+sku, uint64(rev))
			if err != nil || !ok {
				t.Fatalf("StateAt(%d) = %v, %v", rev, ok, err)
			}
			want := adapters.PriceState{SKU: sku, Listed: true, Name: "Thing", PriceCents: price, Currency: "EUR"}
			if got := s.(*adapters.PriceState); *got != want {
				t.Errorf("entry at %d = %+v, want %+v", rev, *got, want)
			}
		}
	})
}

// TestStateAtRefusals: streams of other contexts are not ordering's (ok
// false), a missing stream is ErrNotFound, a malformed id ErrInvalidID.
func TestStateAtRefusals(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, client *esdb.Client) {
		ctx := context.Background()
		for _, stream := range []string{"catalog.product-X", "troupe.checkpoint-relay", "ordering.orders-x", "$all"} {
			if s, ok, err := adapters.StateAt(ctx, client, stream, 0); ok || err != nil || s != nil {
				t.Errorf("StateAt(%s) = %v, %v, %v; want not ordering's", stream, s, ok, err)
			}
		}
		if _, ok, err := adapters.StateAt(ctx, client, "ordering.order-"+rand.Text(), 0); !ok || !errors.Is(err, eventstore.ErrNotFound) {
			t.Errorf("missing order: %v, %v; want ErrNotFound", ok, err)
		}
		if _, ok, err := adapters.StateAt(ctx, client, "ordering.order-a/b", 0); !ok || !errors.Is(err, eventstore.ErrInvalidID) {
			t.Errorf("malformed id: %v, %v; want ErrInvalidID", ok, err)
		}
	})
}
