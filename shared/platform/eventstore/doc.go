// Package eventstore is the event-sourcing chassis every Troupe context uses
// on top of the EventStoreDB/KurrentDB gRPC client
// (github.com/EventStore/EventStore-Client-Go/v4/esdb), the only client that
// talks to the store, embedded or real.
//
// It offers:
//
//   - [Repository]: loads an aggregate by folding its stream (from the latest
//     snapshot when snapshots are configured) and saves the events it recorded
//     with the expected revision; [Repository.Update] reloads and retries on
//     a conflict a bounded number of times. With [CacheConfig] it keeps each
//     stream's aggregate between updates, so an update of a stream this
//     process wrote last reads nothing (the append's expected revision still
//     decides); [WithNewStream] spares the read of a stream about to be
//     created.
//   - [Registry]: the explicit map between event type names and Go types
//     (JSON encoding), passed in at wiring time, never filled by init().
//   - Event metadata ([Metadata]) on every appended event: correlation id,
//     causation id, traceparent and occurred-at, taken from the context
//     ([WithCorrelation], [WithCausation], [WithTraceparent], or all at once
//     from the event being reacted to with [WithCause]).
//   - Deterministic event ids ([WithEventIDSource], [EventID]) so a command
//     driven by a source event writes the same ids on redelivery and the
//     store's idempotent append drops the duplicate.
//   - [Subscription]: a catch-up subscription to $all with a server-side
//     filter that starts from a stored checkpoint, resubscribes with backoff
//     after a drop and saves its checkpoint after handling (at-least-once),
//     with [StreamCheckpoints] storing checkpoints in the store itself.
//
// [Dial] builds the client from a URL; eventstoretest.Run is the contract
// suite every store (embedded or KurrentDB) must pass.
//
// The domain never imports this package: an aggregate satisfies [Aggregate]
// with plain Go methods, and the context's adapters supply the rest (the
// constructor, the snapshot mapping) through [RepositoryConfig].
package eventstore
