package eventstore

import (
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
)

// TestIdleSubscriptionSurvivesKeepalives: the client pings every 10 s; the
// server must not answer with GOAWAY "too_many_pings", which would cut a
// quiet live subscription after about 30 s.
func TestIdleSubscriptionSurvivesKeepalives(t *testing.T) {
	if testing.Short() {
		t.Skip("waits 45 s for keepalive pings")
	}
	t.Parallel()
	s := startServer(t, Config{})
	c := newClient(t, s.URL())
	ctx := ctxT(t)
	stream := newStream("idle")
	sub, err := c.SubscribeToStream(ctx, stream, esdb.SubscribeToStreamOptions{From: esdb.Start{}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	readSub(t, sub, 0, true)
	time.Sleep(45 * time.Second)
	if _, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{}, jsonEvent("x", "{}")); err != nil {
		t.Fatalf("append after an idle period: %v", err)
	}
	if evs, _ := readSub(t, sub, 1, false); evs[0].OriginalEvent().EventNumber != 0 {
		t.Fatalf("live event after idle = %d", evs[0].OriginalEvent().EventNumber)
	}
}
