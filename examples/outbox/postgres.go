package main

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordo-go/ordo/consumer"
	"github.com/ordo-go/ordo/consumer/inbox"
	"github.com/ordo-go/ordo/consumer/inbox/pginbox"
	"github.com/ordo-go/ordo/producer"
	"github.com/ordo-go/ordo/producer/outbox"
	"github.com/ordo-go/ordo/producer/outbox/pgoutbox"
)

// pgDB is the story on a real PostgreSQL: the orders table and the outbox
// (pgoutbox) written in one pgx transaction; the billing table and the
// inbox marks (pginbox) in another. The tables are the run's own
// (suffixed with its ID) and dropped at the end. The charges table has no
// unique constraint: a charge booked twice would be a second row.
type pgDB struct {
	pool    *pgxpool.Pool
	out     *pgoutbox.Store
	w       *outbox.Writer[pgx.Tx, OrderPlaced]
	in      *inbox.Inbox[pgx.Tx]
	orders  string
	charges string
	tables  []string
}

func newPGDB(ctx context.Context, url, runID string, pub *producer.Publisher[OrderPlaced]) (*pgDB, error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, err
	}
	db := &pgDB{pool: pool, orders: "orders_" + runID, charges: "charges_" + runID}
	outTable, marks := "ordo_outbox_"+runID, "ordo_inbox_"+runID
	db.tables = []string{db.orders, db.charges, outTable, marks}
	if err := db.init(ctx, url, outTable, marks, pub); err != nil {
		db.close()
		return nil, err
	}
	return db, nil
}

func (db *pgDB) init(ctx context.Context, url, outTable, marks string, pub *producer.Publisher[OrderPlaced]) error {
	var err error
	if db.out, err = pgoutbox.New(url, pgoutbox.Table(outTable)); err != nil {
		return err
	}
	if err := db.out.Init(ctx, db.pool); err != nil {
		return err
	}
	in, err := pginbox.New(db.pool, pginbox.Table(marks))
	if err != nil {
		return err
	}
	if err := in.Init(ctx, db.pool); err != nil {
		return err
	}
	for _, ddl := range []string{
		"CREATE TABLE " + db.orders + " (id text PRIMARY KEY, cents bigint NOT NULL)",
		"CREATE TABLE " + db.charges + " (order_id text NOT NULL, cents bigint NOT NULL)",
	} {
		if _, err := db.pool.Exec(ctx, ddl); err != nil {
			return fmt.Errorf("create tables: %w", err)
		}
	}
	if db.w, err = outbox.NewWriter[pgx.Tx](pub, db.out); err != nil {
		return err
	}
	db.in, err = inbox.New(in, inbox.Scope("billing"))
	return err
}

func (db *pgDB) place(ctx context.Context, o OrderPlaced, commit bool) (string, error) {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return "", err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	if _, err := tx.Exec(ctx, "INSERT INTO "+db.orders+" (id, cents) VALUES ($1, $2)", o.OrderID, o.Cents); err != nil {
		return "", err
	}
	id, err := db.w.Add(ctx, tx, o)
	if err != nil || !commit {
		return id, err
	}
	return id, tx.Commit(ctx)
}

func (db *pgDB) relayStore() outbox.Store { return db.out }

func (db *pgDB) billing(direct bool) consumer.Handler[OrderPlaced] {
	charge := func(ctx context.Context, tx execer, o OrderPlaced) error {
		_, err := tx.Exec(ctx, "INSERT INTO "+db.charges+" (order_id, cents) VALUES ($1, $2)", o.OrderID, o.Cents)
		return err
	}
	if direct { // tests only: no inbox, every delivery charges
		return func(ctx context.Context, o OrderPlaced, _ consumer.Meta) error { return charge(ctx, db.pool, o) }
	}
	return inbox.Handle(db.in, func(ctx context.Context, tx pgx.Tx, o OrderPlaced, _ consumer.Meta) error {
		return charge(ctx, tx, o) // in the mark's transaction
	})
}

func (db *pgDB) duplicates() int64 { return db.in.Duplicates() }

func (db *pgDB) tally(ctx context.Context) (tally, error) {
	t := tally{orders: map[string]bool{}, charges: map[string]int{}}
	ids, err := collect(ctx, db.pool, "SELECT id, 1 FROM "+db.orders)
	if err != nil {
		return t, err
	}
	for id := range ids {
		t.orders[id] = true
	}
	if t.charges, err = collect(ctx, db.pool, "SELECT order_id, count(*) FROM "+db.charges+" GROUP BY order_id"); err != nil {
		return t, err
	}
	err = db.pool.QueryRow(ctx, "SELECT count(*) FROM "+db.tables[2]).Scan(&t.pending)
	return t, err
}

// execer is what both a pgx.Tx and the pool are.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// collect runs a query of (text, count) rows into a map.
func collect(ctx context.Context, pool *pgxpool.Pool, sql string) (map[string]int, error) {
	rows, err := pool.Query(ctx, sql)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	var (
		k string
		n int
	)
	_, err = pgx.ForEachRow(rows, []any{&k, &n}, func() error { out[k] = n; return nil })
	return out, err
}

// close drops the run's tables and closes the pool.
func (db *pgDB) close() {
	ctx := context.Background()
	for _, t := range db.tables {
		db.pool.Exec(ctx, "DROP TABLE IF EXISTS "+t) //nolint:errcheck // best effort
	}
	db.pool.Close()
}
