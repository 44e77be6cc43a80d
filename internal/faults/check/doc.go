// Package check is the fault suite's checker. It reads what the workers
// journaled (every acknowledged publish, every handled record, every
// rebalance), what the runner journaled (every fault, with the group's
// committed offsets once the faulted incarnation could no longer commit),
// and the topic itself as a raw client read it back, and says whether ordo
// kept its promises:
//
//   - no loss: every record acknowledged to the producer, and every record
//     in the topic, was handled or dead-lettered;
//   - per-key order (see the Violation kinds), across handled and
//     dead-lettered records: under quarantine no record of a key is handled
//     after the key's first dead letter in its partition, and a key's dead
//     letters are in the dead-letter topic in offset order;
//   - bounded duplicates: a record handled more than once is explained when
//     an incarnation that handled it was killed or stopped with its
//     committed offset at or below the record; other duplicates are not;
//   - recovery: after each fault, how long until a record was handled
//     again, and until the backlog present at the fault was worked off;
//   - catch-up accounting: at each graceful exit a consumer's ReplayStats
//     adds up (every offset of a backlog accounted for, or remaining).
//
// A record counts as dead-lettered only if it is in the dead-letter topic
// (the runner reads it and journals Dead events in the topic's order); the
// consumer's "dead-pending" lines, written before the write is
// acknowledged, are only counted.
//
// [Outbox] and [Inbox] check the transactional outbox and the idempotent
// consumer on PostgreSQL: every committed event on the topic, in per-key
// commit order, its extra copies written by killed relays only; every
// record's side effect written exactly once. [Pipeline] checks the
// transactional consume → publish pipeline: every input's outputs read
// read_committed exactly once, each key's in its inputs' order.
//
// # Rebalances
//
// The consumer worker journals ordo's OnAssigned and OnRevoked hooks. The
// checker also counts it as a reassignment of a partition when another
// incarnation handled a record of that partition in between.
package check
