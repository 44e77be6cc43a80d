// Package check is the fault suite's checker. It reads what the workers
// journaled (every acknowledged publish, every handled record, every
// rebalance), what the runner journaled (every fault, with the group's
// committed offsets once the faulted incarnation could no longer commit),
// and the topic itself as a raw client read it back, and says whether ordo
// kept its promises:
//
//   - no loss: every record acknowledged to the producer, and every record
//     in the topic, was handled or dead-lettered;
//   - per-key order, four ways (see the Violation kinds);
//   - bounded duplicates: a record handled more than once is explained when
//     an incarnation that handled it was killed or stopped with its
//     committed offset at or below the record; other duplicates are not;
//   - recovery: after each fault, how long until a record was handled
//     again, and until the backlog present at the fault was worked off.
//
// # Rebalances
//
// ordo's consumer has no public rebalance hook; the consumer worker
// journals its "partitions assigned / revoked / lost" log lines instead.
// The checker also counts it as a reassignment of a partition when another
// incarnation handled a record of that partition in between.
package check
