// Package e2e holds ordo's end-to-end suite against real Apache Kafka
// (build tag integration): the producer's and consumer's promises — typed
// round trips, per-key order under key-parallel consumption, no loss across
// restarts and rebalances, several event types on one topic, schema
// evolution across producer versions, the partition-count guard, durability
// on a three-node cluster, and trace propagation — checked on brokers that
// internal/kafkatest starts in Docker, with the registry it names.
//
// The package has no code of its own; its tests run with
//
//	go test -race -tags integration ./internal/e2e
package e2e
