// Package inbox is ordo's idempotent consumer: a handler's side effects
// and its record's "done" mark are written in one database transaction,
// so a record delivered again is recognised and skipped.
//
// Kafka delivers at least once. A handler that wrote to its database and
// crashed before its offset was committed sees the record again after a
// restart or a rebalance; so does one whose events come from an outbox
// relay that died between the broker's acknowledgement and its mark.
// [Handle] wraps a handler so that it runs in a transaction of a [Store]
// together with the record's mark, keyed by the event ID (the ordo-id
// header) or, for a record without one, by topic, partition and offset:
//
//	in, err := inbox.New(store, inbox.Scope("billing")) // store: pginbox.Store
//	...
//	c, err := consumer.New(...,
//		consumer.On(paidCodec, inbox.Handle(in, func(ctx context.Context, tx pgx.Tx, ev OrderPaid, m consumer.Meta) error {
//			_, err := tx.Exec(ctx, "UPDATE accounts SET paid = paid + $1 WHERE id = $2", ev.Cents, ev.Account)
//			return err
//		})),
//	)
//
// # Duplicates
//
// A record whose mark is already committed is skipped: the handler is not
// called and the record is done. Skips are counted ([Inbox.Duplicates]
// and the ordo.inbox.duplicates counter, by scope) and traced (the
// handler's span gets ordo.inbox.duplicate=true and an event). Two
// deliveries of one record at once (a rebalance overlap) are serialised on
// the mark: the second waits for the first and is a duplicate if it
// committed.
//
// # With the consumer's other features
//
// A failed attempt rolls back its transaction, mark included, so retries,
// the dead-letter topic and quarantine work as for any handler; a record
// redriven from the dead-letter topic keeps its event ID and is handled if
// it never committed. The inbox runs in the handler, on the record's
// lane, so per-key order is the consumer's. A replay from an older offset
// skips the records whose marks are still kept.
//
// # Retention
//
// Marks are kept for the [Retention] (default 7 days) and deleted by
// [Inbox.Purge], which [Inbox.RunJanitor] calls every tenth of the
// retention (between a minute and an hour): a mark lives at most the
// retention plus that interval. A record delivered again after its mark
// is gone is handled again, so the retention must outlast the longest
// way back a record can take (the group's offsets, replays, redrives).
//
// # Stores
//
// [Memory] keeps marks in the process (the embedded default and tests;
// its [MemTx] applies effects registered with OnCommit). The PostgreSQL
// store, through pgx v5 or database/sql, is in the nested module
// github.com/ordo-go/ordo/consumer/inbox/pginbox, so services that do not
// use it do not carry a database driver.
package inbox
