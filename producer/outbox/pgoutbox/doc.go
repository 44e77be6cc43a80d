// Package pgoutbox is the PostgreSQL store of ordo's transactional outbox
// (package github.com/ordo-go/ordo/producer/outbox), through pgx v5. It is
// a module of its own, so that services that do not use PostgreSQL do not
// carry its driver.
//
// Writers add events in the caller's transaction, a pgx.Tx or (through
// [Store.SQL]) a database/sql *sql.Tx:
//
//	store, err := pgoutbox.New(url)
//	...
//	err = store.Init(ctx, conn) // or put store.Schema() in a migration
//	w, err := outbox.NewWriter[pgx.Tx](pub, store)
//	...
//	tx, err := conn.Begin(ctx)
//	... // the service's own writes
//	_, err = w.Add(ctx, tx, OrderPlaced{OrderID: "o-1"})
//	...
//	err = tx.Commit(ctx)
//
// and relays publish them:
//
//	relay, err := outbox.NewRelay(relayProducer, store)
//	...
//	err = relay.Run(ctx)
//
// See [Store] for how per-key commit order is kept and how several relays
// share the table.
//
// # Tests
//
// The tests behind the build tag integration start a PostgreSQL server
// of their own (initdb and pg_ctl on 127.0.0.1; see internal/pgtest) or
// use the one ORDO_TEST_POSTGRES names.
package pgoutbox
