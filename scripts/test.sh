#!/usr/bin/env bash
# scripts/test.sh [--short|--bench] [go test flags...]
#
# Runs every module's tests with -race (--bench: every benchmark, without
# -race, which would distort the figures). Without --short it first starts real
# Kafka and Redis (scripts/kafka.sh, scripts/redis.sh), points the tests at
# them through TROUPE_TEST_KAFKA_BROKERS / TROUPE_TEST_REDIS_URL, and stops
# both whatever the outcome. Exits non-zero if any module fails.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

short=""
race=-race
case "${1:-}" in
  --short) short=1; shift ;;
  --bench) race=""; shift; set -- -run '^$' -bench . -benchmem "$@" ;;
esac

if [ -z "$short" ]; then
  stop_servers() {
    scripts/redis.sh down || true
    scripts/kafka.sh down || true
  }
  trap stop_servers EXIT
  trap 'exit 130' INT TERM
  scripts/kafka.sh up || exit 1
  scripts/redis.sh up || exit 1
  export TROUPE_TEST_KAFKA_BROKERS=127.0.0.1:${TROUPE_KAFKA_PORT:-19092}
  export TROUPE_TEST_REDIS_URL=redis://127.0.0.1:${TROUPE_REDIS_PORT:-16379}/0
else
  unset TROUPE_TEST_KAFKA_BROKERS TROUPE_TEST_REDIS_URL
  set -- -short "$@"
fi

failed=()
start=$(date +%s)
for mod in $(scripts/modules.sh); do
  echo "=== module $mod"
  if ! (cd "$mod" && go test $race -count=1 -timeout 15m "$@" ./...); then
    failed+=("$mod")
  fi
done
echo "=== $(($(date +%s) - start))s for $(scripts/modules.sh | wc -l) modules"
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED modules: ${failed[*]}"
  exit 1
fi
echo "all modules passed"
