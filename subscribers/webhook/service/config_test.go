package service_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/troupe-dev/troupe/subscribers/webhook/service"
)

func TestParseConfig(t *testing.T) {
	t.Parallel()
	ok := `[{"name":"crm","url":"https://crm.example/hook","secret":"s","types":["payments.payment_captured.v1"]},
	        {"name":"audit-2","url":"http://127.0.0.1:9000/","secret":"t","types":["ordering.order_confirmed.v1","ordering.order_cancelled.v1"]}]`
	ws, err := service.ParseConfig([]byte(ok))
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 2 || ws[1].Group() != "webhook-audit-2" || len(ws[1].Types) != 2 {
		t.Fatalf("parsed %+v", ws)
	}
	hook := func(fields string) string {
		return `[{` + fields + `}]`
	}
	const good = `"url":"https://x.example/h","secret":"s","types":["payments.payment_captured.v1"]`
	for _, tc := range []struct{ name, json, wantErr string }{
		{"not json", `{`, "JSON list"},
		{"an object", `{"name":"a"}`, "JSON list"},
		{"empty", `[]`, "empty"},
		{"unknown field", hook(`"name":"a","typo":1,` + good), "unknown field"},
		{"bad name", hook(`"name":"Bad_Name",` + good), "name must match"},
		{"bad url", hook(`"name":"a","url":"ftp://x","secret":"s","types":["payments.payment_captured.v1"]`), "http or https"},
		{"no secret", hook(`"name":"a","url":"https://x.example","secret":" ","types":["payments.payment_captured.v1"]`), "secret is empty"},
		{"no types", hook(`"name":"a","url":"https://x.example","secret":"s","types":[]`), "types is empty"},
		{"unknown type", hook(`"name":"a","url":"https://x.example","secret":"s","types":["payments.captured"]`), "unknown event type"},
		{"duplicate", `[{"name":"a",` + good + `},{"name":"a",` + good + `}]`, "used twice"},
	} {
		_, err := service.ParseConfig([]byte(tc.json))
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.wantErr)
		}
	}
}

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	env := `[{"name":"from-env","url":"https://x.example","secret":"s","types":["payments.payment_refunded.v1"]}]`
	file := filepath.Join(t.TempDir(), "hooks.json")
	if err := os.WriteFile(file, []byte(strings.Replace(env, "from-env", "from-file", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if ws, err := service.LoadConfig(file, env); err != nil || ws[0].Name != "from-file" {
		t.Fatalf("file wins: %+v, %v", ws, err)
	}
	if ws, err := service.LoadConfig("", env); err != nil || ws[0].Name != "from-env" {
		t.Fatalf("env: %+v, %v", ws, err)
	}
	if ws, err := service.LoadConfig("", ""); err != nil || ws != nil {
		t.Fatalf("none: %+v, %v", ws, err)
	}
	if _, err := service.LoadConfig(filepath.Join(t.TempDir(), "missing.json"), ""); err == nil {
		t.Fatal("missing file: want an error")
	}
	if _, err := service.LoadConfig("", "[{}]"); err == nil || !strings.Contains(err.Error(), service.EnvWebhooks) {
		t.Fatalf("bad env: %v, want an error naming %s", err, service.EnvWebhooks)
	}
}
