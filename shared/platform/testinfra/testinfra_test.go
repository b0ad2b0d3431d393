package testinfra

import (
	"regexp"
	"strings"
	"testing"
)

// TestUniqueNames: names are valid Kafka topic / stream names, carry the
// base, and differ between calls so parallel tests never share state.
func TestUniqueNames(t *testing.T) {
	t.Parallel()
	valid := regexp.MustCompile(`^[A-Za-z0-9._-]{1,249}$`)
	a, b := Topic(t, "orders"), Topic(t, "orders")
	if a == b {
		t.Fatalf("two calls gave the same topic %q", a)
	}
	for _, n := range []string{a, b, UniqueName(t, "x")} {
		if !valid.MatchString(n) || !strings.HasPrefix(n, "x") && !strings.HasPrefix(n, "orders.") {
			t.Fatalf("name %q is not a valid, prefixed topic name", n)
		}
	}
	if p := KeyPrefix(t); !strings.HasPrefix(p, "test:") || !strings.HasSuffix(p, ":") || p == KeyPrefix(t) {
		t.Fatalf("key prefix %q is not unique or not prefixed", p)
	}
}

// TestRealOverridesEmbedded: with the environment variables set, the real
// servers are handed out; the split and trim of the broker list holds.
func TestRealOverridesEmbedded(t *testing.T) {
	t.Setenv(EnvKafkaBrokers, " 127.0.0.1:1,127.0.0.1:2 ")
	t.Setenv(EnvRedisURL, "redis://127.0.0.1:3/0")
	if got := KafkaBrokers(t); len(got) != 2 || got[1] != "127.0.0.1:2" {
		t.Fatalf("KafkaBrokers = %v", got)
	}
	if got := RedisURL(t); got != "redis://127.0.0.1:3/0" {
		t.Fatalf("RedisURL = %q", got)
	}
	t.Setenv(EnvKafkaBrokers, "")
	t.Setenv(EnvRedisURL, "")
	if got := KafkaBrokers(t); len(got) != 1 || !strings.HasPrefix(got[0], "127.0.0.1:") {
		t.Fatalf("embedded KafkaBrokers = %v", got)
	}
	if got := RedisURL(t); !strings.HasPrefix(got, "redis://127.0.0.1:") {
		t.Fatalf("embedded RedisURL = %q", got)
	}
}
