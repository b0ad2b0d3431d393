// Package testinfra hands tests their Kafka brokers and Redis servers: the
// real ones started by `make test` (scripts/kafka.sh, scripts/redis.sh) when
// TROUPE_TEST_KAFKA_BROKERS / TROUPE_TEST_REDIS_URL are set, and embedded
// ones (kfake, miniredis) started in-process for the test otherwise. Contract
// suites run against every available backend as subtests, and each test gets
// unique topic names and Redis key prefixes so tests run in parallel.
package testinfra

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"regexp"
	"strings"
	"testing"

	embkafka "github.com/troupe-dev/troupe/embedded/kafka"
	embredis "github.com/troupe-dev/troupe/embedded/redis"
)

// Environment variables set by `make test` to point tests at the real servers.
const (
	EnvKafkaBrokers = "TROUPE_TEST_KAFKA_BROKERS"
	EnvRedisURL     = "TROUPE_TEST_REDIS_URL"
)

// Backend names, used as subtest names.
const (
	Real     = "real"
	Embedded = "embedded"
)

// KafkaBackend is a Kafka to test against.
type KafkaBackend struct {
	// Name is Real or Embedded.
	Name string
	// Brokers is the bootstrap list.
	Brokers []string
}

// RedisBackend is a Redis to test against.
type RedisBackend struct {
	// Name is Real or Embedded.
	Name string
	// URL is a redis:// URL for go-redis.
	URL string
}

// RealKafka returns the real broker list from the environment, or nil when
// TROUPE_TEST_KAFKA_BROKERS is unset.
func RealKafka() []string {
	v := strings.TrimSpace(os.Getenv(EnvKafkaBrokers))
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

// RealRedis returns the real Redis URL from the environment, or "" when
// TROUPE_TEST_REDIS_URL is unset.
func RealRedis() string { return strings.TrimSpace(os.Getenv(EnvRedisURL)) }

// EmbeddedKafka starts an in-memory kfake broker for the test and stops it
// when the test ends.
func EmbeddedKafka(t testing.TB) []string {
	t.Helper()
	srv, err := embkafka.Start(context.Background(), embkafka.Config{NoSync: true})
	if err != nil {
		t.Fatalf("testinfra: start embedded kafka: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv.Brokers()
}

// EmbeddedRedis starts a miniredis server for the test and stops it when the
// test ends. It returns its redis:// URL.
func EmbeddedRedis(t testing.TB) string {
	t.Helper()
	srv, err := embredis.Start(context.Background(), embredis.Config{})
	if err != nil {
		t.Fatalf("testinfra: start embedded redis: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv.URL()
}

// KafkaBrokers returns the brokers a single-backend test should use: the
// real ones when configured, else an embedded broker for this test.
func KafkaBrokers(t testing.TB) []string {
	t.Helper()
	if b := RealKafka(); b != nil {
		return b
	}
	return EmbeddedKafka(t)
}

// RedisURL returns the Redis a single-backend test should use: the real one
// when configured, else an embedded server for this test.
func RedisURL(t testing.TB) string {
	t.Helper()
	if u := RealRedis(); u != "" {
		return u
	}
	return EmbeddedRedis(t)
}

// ForEachKafka runs fn as a subtest against every Kafka backend: "real"
// (skipped, saying why, when TROUPE_TEST_KAFKA_BROKERS is unset) and
// "embedded" (a kfake broker started for the subtest).
func ForEachKafka(t *testing.T, fn func(t *testing.T, kb KafkaBackend)) {
	t.Helper()
	t.Run(Real, func(t *testing.T) {
		brokers := RealKafka()
		if brokers == nil {
			t.Skipf("%s is not set; `make test` starts real Kafka and sets it", EnvKafkaBrokers)
		}
		fn(t, KafkaBackend{Name: Real, Brokers: brokers})
	})
	t.Run(Embedded, func(t *testing.T) {
		fn(t, KafkaBackend{Name: Embedded, Brokers: EmbeddedKafka(t)})
	})
}

// ForEachRedis runs fn as a subtest against every Redis backend: "real"
// (skipped, saying why, when TROUPE_TEST_REDIS_URL is unset) and "embedded"
// (a miniredis server started for the subtest).
func ForEachRedis(t *testing.T, fn func(t *testing.T, rb RedisBackend)) {
	t.Helper()
	t.Run(Real, func(t *testing.T) {
		url := RealRedis()
		if url == "" {
			t.Skipf("%s is not set; `make test` starts real redis-server and sets it", EnvRedisURL)
		}
		fn(t, RedisBackend{Name: Real, URL: url})
	})
	t.Run(Embedded, func(t *testing.T) {
		fn(t, RedisBackend{Name: Embedded, URL: EmbeddedRedis(t)})
	})
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// UniqueName returns base, a short form of the test's name and a random
// suffix, using only [A-Za-z0-9._-] so it is valid as a Kafka topic, a
// stream name and a consumer-group name.
func UniqueName(t testing.TB, base string) string {
	t.Helper()
	name := unsafeChars.ReplaceAllString(t.Name(), "_")
	if len(name) > 40 {
		name = name[len(name)-40:]
	}
	return base + "." + strings.Trim(name, "_") + "-" + randomHex(t, 6)
}

// Topic returns a topic name unique to this test and this run.
func Topic(t testing.TB, base string) string {
	t.Helper()
	return UniqueName(t, base)
}

// KeyPrefix returns a Redis key prefix unique to this test and this run,
// ending in ":".
func KeyPrefix(t testing.TB) string {
	t.Helper()
	return "test:" + UniqueName(t, "t") + ":"
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("testinfra: random: %v", err)
	}
	return hex.EncodeToString(b)
}
