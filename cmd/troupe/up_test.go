package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestUpServesAndStops: `troupe up` starts the embedded servers, publishes
// them in endpoints.json, refuses a second platform on the same data dir,
// and stops cleanly (exit 0, endpoints.json removed) when its context ends.
func TestUpServesAndStops(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"up", "--data-dir", dir}) }()

	epPath := filepath.Join(dir, "endpoints.json")
	var ep endpoints
	deadline := time.Now().Add(20 * time.Second)
	for {
		if b, err := os.ReadFile(epPath); err == nil && json.Unmarshal(b, &ep) == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("endpoints.json did not appear")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if ep.PID != os.Getpid() || ep.Kafka == "" || ep.Redis == "" || !strings.HasPrefix(ep.EventStore, "esdb://127.0.0.1:") {
		t.Fatalf("endpoints = %+v", ep)
	}
	conn, err := net.DialTimeout("tcp", ep.Kafka, 2*time.Second)
	if err != nil {
		t.Fatalf("kafka at %s: %v", ep.Kafka, err)
	}
	conn.Close()

	if code := run(context.Background(), []string{"up", "--data-dir", dir}); code != 1 {
		t.Fatalf("second up on the same data dir exited %d, want 1", code)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("up exited %d after cancel, want 0", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("up did not stop within 10 s")
	}
	if _, err := os.Stat(epPath); !os.IsNotExist(err) {
		t.Fatalf("endpoints.json left behind: %v", err)
	}
}

// TestBadUsageExits2: unknown commands, flags and arguments exit 2.
func TestBadUsageExits2(t *testing.T) {
	for _, args := range [][]string{{"bogus"}, {"up", "--nope"}, {"up", "extra"}} {
		if code := run(context.Background(), args); code != 2 {
			t.Errorf("troupe %v exited %d, want 2", args, code)
		}
	}
}
