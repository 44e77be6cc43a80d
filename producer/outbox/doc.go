// Package outbox is ordo's transactional outbox: a service writes its
// events in the same database transaction as its state change, and a
// [Relay] publishes the committed events to Kafka afterwards, in per-key
// commit order, marking each only once the broker acknowledged it. A crash
// between the commit and the publish loses nothing; a crash between the
// publish and the mark costs a duplicate with the same event ID.
//
// # Writing
//
// A [Writer] seals each event with its [producer.Publisher] (see
// [producer.Publisher.Seal]: encoded and framed with the registered
// schema, with its event ID, its key's partition and the trace context of
// the caller's span) and inserts it through an [Inserter] in the caller's
// transaction:
//
//	w, err := outbox.NewWriter[pgx.Tx](pub, store) // store: pgoutbox.Store
//	...
//	tx, err := pool.Begin(ctx)
//	... // the state change
//	id, err := w.Add(ctx, tx, OrderPlaced{OrderID: "o-1"})
//	...
//	err = tx.Commit(ctx)
//
// The PostgreSQL store (pgx v5, with database/sql's *sql.Tx too) lives in
// the nested module github.com/ordo-go/ordo/producer/outbox/pgoutbox, so a
// service that does not use it does not carry a database driver. [Memory]
// is the in-process store of the embedded default and of tests.
//
// # Relaying
//
// A [Relay] reads committed rows through a [Session] of its [Store],
// publishes them with [producer.Producer.PublishSealed] (ordo-producer and
// ordo-seq are the relay producer's, in publish order, which is per-key
// commit order) and marks them. Several relays may share a store: each
// session holds some of the store's lanes (a lane is a set of partitions,
// so a key is in one lane), the lanes are balanced among the live
// sessions, and a lane changes hands only with nothing of it in flight;
// a relay that dies gives its lanes up with its session, and the next
// holder starts from the lane's oldest unmarked row. See [Relay] for the
// guarantees.
//
// Events are not yet published transactionally with a consumer's offsets
// (consume → publish exactly once); that is a separate feature.
package outbox
