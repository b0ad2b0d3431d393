package eventstore_test

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/troupe-dev/troupe/shared/platform/eventstore"
)

// A context's adapter wires its domain aggregate (here the test's account,
// which imports nothing of this package) to a Repository, then runs a
// command the way a policy reacting to another event would.
func ExampleRepository_Update() {
	ctx := context.Background()
	client, err := eventstore.Dial("esdb://127.0.0.1:2113?tls=false", slog.Default())
	if err != nil {
		panic(err)
	}
	defer client.Close()

	events := eventstore.NewRegistry()
	eventstore.Register[accountOpened](events, "test.account.opened")
	eventstore.Register[moneyDeposited](events, "test.account.deposited")

	accounts, err := eventstore.NewRepository(client, eventstore.RepositoryConfig[*account]{
		Category: "test.account", // streams test.account-<id>
		New:      newAccount,
		Events:   events,
		Snapshots: &eventstore.SnapshotConfig[*account]{
			Every: 500, Version: "v1", Marshal: marshalAccount, Unmarshal: unmarshalAccount,
		},
	})
	if err != nil {
		panic(err)
	}

	// The same source id on redelivery derives the same event ids.
	ctx = eventstore.WithCorrelation(ctx, "request-1")
	ctx = eventstore.WithEventIDSource(ctx, "payment-7")
	res, err := accounts.Update(ctx, "customer-1", func(a *account) error {
		return a.Deposit(500, "payment-7")
	})
	if err != nil {
		panic(err)
	}
	// What a command handler answers in Troupe-Consistency.
	fmt.Printf("%s@%d\n", res.Stream, res.Revision)
}
