package app_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/troupe-dev/troupe/contexts/payments/adapters"
	"github.com/troupe-dev/troupe/contexts/payments/app"
	"github.com/troupe-dev/troupe/contexts/payments/domain/payment"
	"github.com/troupe-dev/troupe/contexts/payments/domain/wallet"
	esserver "github.com/troupe-dev/troupe/embedded/eventstore"
	"github.com/troupe-dev/troupe/embedded/psp"
	"github.com/troupe-dev/troupe/shared/events"
	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

// One embedded event store serves the package; tests use unique ids.
var client *esdb.Client

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "payments-app-*")
	if err != nil {
		panic(err)
	}
	srv, err := esserver.Start(context.Background(), esserver.Config{DataDir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	client, err = eventstore.Dial(srv.URL(), slog.New(slog.DiscardHandler))
	if err != nil {
		panic(err)
	}
	code := m.Run()
	_ = client.Close()
	_ = srv.Close()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

type fixture struct {
	app      *app.Application
	wallets  *eventstore.Repository[*wallet.Wallet]
	payments *eventstore.Repository[*payment.Payment]
	gateway  *adapters.CardGateway
	psp      *psp.Server
}

func newFixture(t *testing.T, gw adapters.CardGatewayConfig, sim psp.Settings) *fixture {
	t.Helper()
	evs := adapters.Events()
	wallets, err := adapters.NewWalletRepository(client, evs, nil)
	if err != nil {
		t.Fatal(err)
	}
	payments, err := adapters.NewPaymentRepository(client, evs, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := psp.Start(context.Background(), psp.Config{Settings: sim})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	gw.URL = srv.URL()
	if gw.Logger == nil {
		gw.Logger = slog.New(slog.DiscardHandler)
	}
	gateway, err := adapters.NewCardGateway(gw)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{app: app.New(wallets, payments, gateway, "EUR"), wallets: wallets, payments: payments, gateway: gateway, psp: srv}
}

func cause() app.Cause { return app.Cause{EventID: uuid.NewString()} }

func id(prefix string) string { return prefix + "-" + uuid.NewString()[:8] }

func (f *fixture) deposit(t *testing.T, customer string, amount int64) {
	t.Helper()
	if _, err := f.app.DepositFunds(context.Background(), app.DepositFunds{CustomerID: customer, AmountCents: amount, Subject: customer}); err != nil {
		t.Fatal(err)
	}
}

func placed(order, customer string, total int64, method string) events.OrderPlaced {
	return events.OrderPlaced{OrderID: order, CustomerID: customer, TotalCents: total, Currency: "EUR",
		PaymentMethod: method, Lines: []events.PricedLine{{SKU: "SKU-1", Quantity: 1, UnitPriceCents: total}}, PlacedAt: time.Now()}
}

// streamEvents returns the decoded events of a stream (none when it does
// not exist).
func streamEvents(t *testing.T, stream string) []any {
	t.Helper()
	rs, err := client.ReadStream(context.Background(), stream, esdb.ReadStreamOptions{From: esdb.Start{}}, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	evs := adapters.Events()
	var out []any
	for {
		re, err := rs.Recv()
		if errors.Is(err, io.EOF) || eventstore.IsStreamNotFound(err) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		e, err := evs.Decode(re.OriginalEvent().EventType, re.OriginalEvent().Data)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
}

// count returns how many events of stream have the Go type of sample.
func count(t *testing.T, stream string, sample any) int {
	t.Helper()
	n := 0
	for _, e := range streamEvents(t, stream) {
		if fmt.Sprintf("%T", e) == fmt.Sprintf("%T", sample) {
			n++
		}
	}
	return n
}

func (f *fixture) wallet(t *testing.T, customer string) *wallet.Wallet {
	t.Helper()
	w, _, err := f.wallets.Load(context.Background(), customer)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func (f *fixture) payment(t *testing.T, order string) *payment.Payment {
	t.Helper()
	p, _, err := f.payments.Load(context.Background(), order)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
