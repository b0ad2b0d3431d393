package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/troupe-dev/troupe/shared/platform/readmodel"
)

// checkLagExposed: a ready platform's /readyz shows the lag of both read
// models, and /metrics has the lag gauges.
func checkLagExposed(t *testing.T, base string) {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	var ready struct {
		Status     string                      `json:"status"`
		ReadModels map[string]readmodel.Status `json:"readModels"`
	}
	err = json.NewDecoder(resp.Body).Decode(&ready)
	resp.Body.Close()
	if err != nil || ready.Status != "ready" {
		t.Fatalf("readyz: %v %+v", err, ready)
	}
	for _, m := range []string{"projections", "loyalty"} {
		st, ok := ready.ReadModels[m]
		if !ok || st.Error != "" {
			t.Fatalf("readyz lacks the lag of %s: %+v", m, ready.ReadModels)
		}
	}
	resp, err = http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`troupe_readmodel_lag_events{model="projections"}`, `troupe_readmodel_lag_events{model="loyalty"}`,
		`troupe_subscriber_lag_events{group="projections"}`} {
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Fatalf("metrics %d lack %s:\n%s", resp.StatusCode, want, body)
		}
	}
}

// TestPrintLag: one line when a model starts lagging, one when it caught
// up, nothing while it stays either way or cannot be measured.
func TestPrintLag(t *testing.T) {
	at := time.Now().Add(-time.Minute)
	var out strings.Builder
	lagging := map[string]bool{}
	steps := []map[string]readmodel.Status{
		{"projections": {Behind: 3}},
		{"projections": {Behind: 5000, NewestApplied: &at, AgeSeconds: 61, Lagging: true}, "loyalty": {Error: "redis down"}},
		{"projections": {Behind: 6000, NewestApplied: &at, AgeSeconds: 66, Lagging: true}},
		{"projections": {Behind: 0}},
		{"projections": {Behind: 0}},
	}
	for _, st := range steps {
		printLag(&out, st, lagging)
	}
	want := "lag warning: read model projections is 5000 events behind (newest applied event 1m1s old)\n" +
		"lag: read model projections caught up (0 events behind)\n"
	if out.String() != want {
		t.Fatalf("printed\n%s\nwant\n%s", out.String(), want)
	}
}
