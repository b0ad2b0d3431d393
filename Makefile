# Troupe's build entry points. Every target works on a fresh machine: the
# scripts install what they need (Kafka jars through Maven, redis-server from
# Debian, golangci-lint through the Go module proxy).
.PHONY: test test-short lint bench kafka-up kafka-down redis-up redis-down schemas-check generate stack stack-down

# Every module's tests with -race, against real Kafka 4.x and redis-server
# (started and stopped here) and the embedded servers.
test:
	@scripts/test.sh

# Every module's tests with -race and -short, embedded servers only.
test-short:
	@scripts/test.sh --short

# gofmt, go vet, golangci-lint (staticcheck, depguard on domain/).
lint:
	@scripts/lint.sh

# Every benchmark, against real Kafka and Redis, baselines in the same run.
bench:
	@scripts/test.sh --bench

# Every event schema against its released copy (schemas/released/): fails
# on a breaking change within a version, which needs a new version file.
schemas-check:
	@cd schemas && go run ./cmd/schemas-check

# Regenerate committed generated files (docs/events.md from the schemas).
generate:
	@cd schemas && go run ./cmd/events-doc -o ../docs/events.md

kafka-up:
	@scripts/kafka.sh up
kafka-down:
	@scripts/kafka.sh down
redis-up:
	@scripts/redis.sh up
redis-down:
	@scripts/redis.sh down

# The distributed deployment as separate processes on this machine (real
# Kafka and Redis, `troupe eventstore serve`, one `troupe serve` per
# component, the gateway on TROUPE_HTTP_ADDR); see scripts/stack.sh.
stack:
	@scripts/stack.sh up
stack-down:
	@scripts/stack.sh down
