package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestPSPServe: `troupe psp serve` answers the card gateway's API on its
// address, and a busy address is a failure naming --addr.
func TestPSPServe(t *testing.T) {
	addr := gwFreeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"psp", "serve", "--addr", addr}) }()

	var resp *http.Response
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, _ := http.NewRequest("POST", "http://"+addr+"/payments",
			strings.NewReader(`{"amountCents":500,"currency":"EUR","reference":"o-1"}`))
		req.Header.Set("Idempotency-Key", "pay-1")
		var err error
		if resp, err = http.DefaultClient.Do(req); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("psp serve not answering: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var got struct{ ID, Status string }
	err := json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusCreated || got.Status != "captured" {
		t.Fatalf("POST /payments: %d %+v %v", resp.StatusCode, got, err)
	}

	if code := run(context.Background(), []string{"psp", "serve", "--addr", addr}); code != 1 {
		t.Fatalf("second psp serve on a busy address: exit %d, want 1", code)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("psp serve exit %d after its context ended, want 0", code)
	}
}
