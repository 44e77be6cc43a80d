// Package partition answers ordo's first question: does order matter?
//
// Kafka keeps order only within a partition, so ordered delivery is a
// matter of keys: every event names the entity it belongs to, every event of
// that entity lands on the same partition, and consumers handle one key's
// events one at a time. This package holds the pieces of that contract that
// producers and consumers share.
//
// # Keys
//
// An event type implements [Keyed]. ordo's publishing functions use Keyed as
// a type constraint, so an event without a key does not compile, and
// [KeyOf] refuses an empty key at run time with [ErrNoKey]. Events that
// truly need no order opt out by name at the call site (the producer's
// NewUnorderedPublisher), never by default.
//
// # Placement
//
// [For] is the partition a key lands on: murmur2, as the Java client's
// default partitioner, librdkafka's murmur2_random and franz-go's
// StickyKeyPartitioner compute it, so services written in any of those
// languages agree on where each key goes.
//
// # Partition-count changes
//
// Adding partitions to a topic moves keys to other partitions, and events
// of one key written before and after the change can then be read out of
// order. A [Guard] remembers each topic's count as first seen and reports a
// change as a [*CountChangedError].
//
// # Sequences
//
// A [Stamper] numbers each key's events on the producer side; a [Checker]
// on the consumer side reports a gap or a regression in those numbers. Both
// keep bounded memory.
package partition
