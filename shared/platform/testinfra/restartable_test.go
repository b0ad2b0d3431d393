package testinfra

import (
	"net"
	"testing"
	"time"
)

// TestRestartableKafka: a dedicated broker stops (its port closes) and
// starts again on the same address.
func TestRestartableKafka(t *testing.T) {
	t.Parallel()
	ForEachRestartableKafka(t, func(t *testing.T, k RestartableKafka) {
		t.Parallel()
		addr := k.Brokers()[0]
		dial := func() error {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
			}
			return err
		}
		if err := dial(); err != nil {
			t.Fatalf("broker not reachable at %s: %v", addr, err)
		}
		if err := k.Stop(); err != nil {
			t.Fatal(err)
		}
		if dial() == nil {
			t.Fatalf("broker still reachable at %s after Stop", addr)
		}
		if err := k.Start(); err != nil {
			t.Fatal(err)
		}
		if err := dial(); err != nil || k.Brokers()[0] != addr {
			t.Fatalf("after Start: %v, brokers %v (want %s)", err, k.Brokers(), addr)
		}
	})
}
