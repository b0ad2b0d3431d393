// Package messaging is Troupe's Kafka layer: the client defaults every
// service shares, topic creation, and the subscriber SDK.
//
// # Kafka defaults (NewSaramaConfig) and why
//
//   - Version: KafkaVersion (3.6), explicit. sarama's default is the oldest
//     version Kafka 4.x still accepts; kfake needs at least 0.11. Proven
//     against Apache Kafka 4.1 and kfake by the tests of this package and
//     of the tests module.
//   - acks=all and an idempotent producer: an acknowledged record is on
//     every in-sync replica, and a produce retried after a lost answer is
//     not written twice. sarama requires MaxOpenRequests=1 for that, which
//     also keeps per-partition order across retries.
//   - New consumer groups start at the oldest offset: a new subscriber
//     catches up on history instead of silently skipping it
//     (SubscriberConfig.Validate refuses anything else).
//   - Offsets are marked only after the handler succeeded (or the event was
//     dead-lettered) and committed by sarama's auto-commit every second and
//     on a clean stop: delivery is at-least-once.
//   - Topics (EnsureTopics): TopicPartitions (6) partitions and
//     retention.ms=-1, since history is what subscribers and rebuilds
//     replay.
//
// # The subscriber SDK
//
// A Subscriber is a stable name (its consumer group) plus typed handlers:
//
//	sub, err := messaging.NewSubscriber("loyalty", messaging.SubscriberConfig{Brokers: brokers})
//	messaging.Handle(sub, func(ctx context.Context, e events.PaymentCaptured, m messaging.Meta) error { ... })
//	err = sub.Run(ctx)
//
// See Subscriber for the delivery, ordering, retry and dead-letter
// guarantees, and readmodel.ApplyOnce for an exactly-once Redis effect.
//
// # Operating a running subscriber
//
// Pause and Resume leave and rejoin the consumer group while Run keeps
// running; Reset pauses, moves the group's offsets (earliest, or a time),
// and resumes, re-driving that history. A subscriber that stores its
// position beside its read model either moves it too (OnReset) or refuses
// (ResetRefusal). RedriveID redrives one dead letter; State reports
// running, paused or stopped. Package admin serves these over HTTP.
package messaging
