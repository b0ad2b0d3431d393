// Package tests holds Troupe's end-to-end and fault tests across modules:
// they run against real Kafka and Redis under `make test`, and against the
// embedded servers otherwise.
package tests
