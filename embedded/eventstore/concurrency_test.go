package eventstore

import (
	"sync"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
)

// TestConcurrentWritersOneStream races N writers for each revision of one
// stream with exact expected revisions: exactly one wins each revision and
// the others get wrong-expected-version.
func TestConcurrentWritersOneStream(t *testing.T) {
	t.Parallel()
	s := startServer(t, Config{})
	ctx := ctxT(t)
	const writers, rounds = 8, 40
	clients := make([]*esdb.Client, writers)
	for i := range clients {
		clients[i] = newClient(t, s.URL())
	}
	stream := newStream("race")
	for r := 0; r < rounds; r++ {
		var expected esdb.ExpectedRevision = esdb.NoStream{}
		if r > 0 {
			expected = esdb.Revision(uint64(r - 1))
		}
		ids := make([]uuid.UUID, writers)
		errs := make([]error, writers)
		var start, done sync.WaitGroup
		start.Add(1)
		for w := 0; w < writers; w++ {
			done.Add(1)
			go func() {
				defer done.Done()
				ev := jsonEvent("raced", `{}`)
				ids[w] = ev.EventID
				start.Wait()
				_, errs[w] = clients[w].AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: expected}, ev)
			}()
		}
		start.Done()
		done.Wait()
		winner := -1
		for w, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Fatalf("round %d: writers %d and %d both won", r, winner, w)
				}
				winner = w
			case errCode(err) != esdb.ErrorCodeWrongExpectedVersion:
				t.Fatalf("round %d: writer %d: %v, want wrong expected version", r, w, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: nobody won", r)
		}
		got, err := collect(clients[0].ReadStream(ctx, stream, esdb.ReadStreamOptions{From: esdb.Revision(uint64(r))}, 1))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].OriginalEvent().EventID != ids[winner] {
			t.Fatalf("round %d: revision %d does not hold the winner's event", r, r)
		}
	}
}
