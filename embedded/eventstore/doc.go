// Package eventstore is an embedded, durable event store that speaks the
// EventStoreDB/KurrentDB gRPC protocol, so the unmodified
// github.com/EventStore/EventStore-Client-Go/v4 client works against it.
//
// It serves the Streams (Append, Read, Delete, Tombstone and catch-up
// subscriptions), ServerFeatures and Gossip services over plaintext gRPC.
// Persistent subscriptions, projections and BatchAppend are not served; the
// client reports them as unsupported.
//
// Storage is a Pebble database in Config.DataDir. Every acknowledged write has
// been fsynced; concurrent appenders share fsyncs (group commit). Readers and
// subscribers only ever see durable events. The $all log is ordered by a
// position that starts at 1 and grows by one per event; commit and prepare
// positions are equal.
//
// Memory beyond Pebble's memtables: its block cache (Config.CacheSize, 128
// MiB by default, filled on demand), an index of the durable tails of up to
// 200,000 recently read or written streams, and the latest 16,384 durable
// events of at most 4 KiB each. With these a short stream read (a few events
// after a revision, the last event, a missing stream) is answered from
// memory or with one point lookup per event.
//
// Semantics follow KurrentDB where the client can observe them:
//   - expected revisions any, no_stream, stream_exists and exact, with the
//     current revision in wrong-expected-version answers;
//   - idempotent re-append of the same event ids;
//   - soft delete writes $tb (truncate before) = max int64 into the stream's
//     metadata ($$stream); a later append resumes the numbering and moves $tb;
//   - tombstone writes a $streamDeleted event at revision max int64; every
//     later read or append answers "stream deleted";
//   - $maxCount, $maxAge and $tb from metadata hide events from stream reads
//     and stream subscriptions (as after a scavenge); $all keeps them, as
//     KurrentDB does until it scavenges;
//   - metadata streams keep only their latest event visible ($maxCount 1).
package eventstore
