// Package relay publishes a bounded context's domain events from the event
// store to Kafka as integration events, without a dual write: the event
// store is the only thing a command writes, and the relay follows it.
//
// One [Relay] runs per context ("catalog"). It keeps a catch-up
// subscription to $all filtered to the context's streams ("catalog."),
// starting from a checkpoint kept in the event store itself
// ("troupe.checkpoint-relay-catalog"). A [Mapper] the context supplies turns
// each domain event into zero or one integration event (private events stay
// private); a [TypedMapper] also names the domain event types it
// publishes, and the subscription is then filtered to those types instead,
// so the private events never leave the store. The relay publishes each
// integration event to the context's topic ("catalog.events") with the
// source stream as key, the payload alone as value, the event's occurred-at
// time as record timestamp and the headers of DESIGN.md, through an
// idempotent sarama AsyncProducer with acks=all.
//
// Contracts:
//
//   - At least once, never lost: the checkpoint only moves past an event
//     once Kafka acknowledged it and every event before it. After a crash, a
//     Kafka outage or a produce failure the relay starts again from the
//     checkpoint and republishes what follows it, so consumers see bounded
//     duplicates (at most Config.MaxInFlight events plus those acknowledged
//     during one Config.CheckpointInterval) and must deduplicate, by event
//     id or by stream revision. A republished event carries the same event
//     id ([EventID]) and revision.
//   - Per-stream order: one stream's events go to one partition (the key is
//     the stream) in revision order, and a restart only repeats a suffix, so
//     the first appearance of each event in its partition is in revision
//     order. Nothing is skipped: when Kafka fails an event after the
//     producer's own retries, the relay stops, poisons that producer so that
//     nothing it still holds unbatched reaches Kafka behind the failure,
//     builds a new producer and resumes from the checkpoint.
//   - Throughput: up to Config.MaxInFlight events are in the producer at
//     once, which batches them per partition; the idempotent producer (one
//     request in flight per broker) keeps their order within a partition.
//
// Run one relay per context: a second one would not break order but would
// publish everything twice and contend for the checkpoint.
package relay
