// Package faults is ordo's crash-and-partition suite: it proves the
// consumer's and producer's promises (no acknowledged record lost, per-key
// order, bounded duplicates, recovery) on a real three-broker Kafka cluster
// (replication factor 3, min.insync.replicas 2) while processes are
// SIGKILLed and brokers are killed, stopped and paused.
//
// The producer and the consumer run as separate OS processes
// (cmd/producer, cmd/consumer), written with ordo's public API only, and
// journal what they did (package journal); the checker (package check)
// reads the journals and the topic and gives the verdict. The outbox and
// inbox scenarios add a real PostgreSQL (cmd/outboxwriter, cmd/relay,
// cmd/inboxconsumer). The scenarios
// are integration tests (build tag integration) in this package; README.md
// tells how to run the short and the long form and how to replay a seed.
package faults
