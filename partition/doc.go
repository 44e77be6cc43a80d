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
// a type constraint, so an event without a key does not compile, and the
// producer refuses an empty key at run time with [ErrNoKey]. Events that
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
// order. A [Guard] remembers each topic's count as first seen (or as
// accepted) and reports a change as a [*CountChangedError].
//
// A Guard lives in one process; the count outlives it in the topic. ordo's
// producer stamps every keyed record with the partition count it was
// placed under (the ordo-partitions header, decimal) and, when it starts
// publishing to a topic, seeds its Guard with the count stamped on the
// topic's newest stamped records ([Guard.Accept]), read back past other
// writers' unstamped records within a bound (when none is found, the
// producer warns that the count cannot be known); a count that differs
// from the topic's is then reported by the next Check as if it had
// changed in flight. A change stays refused, across restarts, until
// accepted.
//
// # Sequences
//
// A [Stamper] numbers each key's events on the producer side; a [Checker]
// on the consumer side reports a gap or a regression in those numbers. Both
// keep bounded memory.
package partition
