//go:build integration

package pgoutbox_test

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql's "pgx" driver

	"github.com/ordo-go/ordo/producer"
	"github.com/ordo-go/ordo/producer/outbox"
	"github.com/ordo-go/ordo/producer/outbox/pgoutbox"
	"github.com/ordo-go/ordo/schema"
)

// TestPGCommittedInKeyOrder protects the outbox on PostgreSQL: events
// committed with the service's own rows by 8 connections (3000 events, 64
// keys) while a relay runs reach the topic once each, in their key's
// commit order; rolled-back ones never do.
func TestPGCommittedInKeyOrder(t *testing.T) {
	e := startEnv(t, 6)
	w := e.writer(t)
	stop := runRelay(t, e.relay(t, e.store, outbox.BatchSize(200)))
	var l writeLog
	l.write(t, e, w, 64, 3000, 8)
	e.drained(t)
	stop()
	if dups := l.check(t, e.readAll(t, l.total())); len(dups) != 0 {
		t.Fatalf("%d duplicates with no failure", len(dups))
	}
}

// TestPGSQLTx protects the database/sql path: an event added in a
// *sql.Tx is published when the transaction commits and never when it
// rolls back.
func TestPGSQLTx(t *testing.T) {
	e := startEnv(t, 3)
	db, err := sql.Open("pgx", pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, err := schema.NewCodec[OrderPlaced](placedAvsc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pub, err := producer.NewPublisher(ctx, e.producer(t), topic, c)
	if err != nil {
		t.Fatal(err)
	}
	w, err := outbox.NewWriter[*sql.Tx](pub, e.store.SQL())
	if err != nil {
		t.Fatal(err)
	}
	var committed string
	for i, commit := range []bool{false, true} {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		id, err := w.Add(ctx, tx, OrderPlaced{OrderID: "o-1", N: int64(i)})
		if err != nil {
			t.Fatal(err)
		}
		if commit {
			committed = id
			err = tx.Commit()
		} else {
			err = tx.Rollback()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	stop := runRelay(t, e.relay(t, e.store))
	e.drained(t)
	stop()
	recs := e.readAll(t, 1)
	if len(recs) != 1 || recs[0].id != committed {
		t.Fatalf("topic holds %v, want only the committed event %s", recs, committed)
	}
}

// TestPGKeyOrderIsCommitOrder protects per-key commit order where IDs
// alone would break it: transaction A adds an event of key K first (the
// lower ID), B adds one of K second and tries to commit before A. The key
// lock makes B wait for A's commit, so commit order is A, B, and the
// topic says so. Without the lock B commits first and its event follows
// A's on the topic against the commit order.
func TestPGKeyOrderIsCommitOrder(t *testing.T) {
	e := startEnv(t, 3)
	w := e.writer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ca, cb := e.conn(t), e.conn(t)
	txa, err := ca.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ida, err := w.Add(ctx, txa, OrderPlaced{OrderID: "K", N: 1})
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		id  string
		at  time.Time
		err error
	}
	bdone := make(chan result, 1)
	go func() {
		txb, err := cb.Begin(ctx)
		if err != nil {
			bdone <- result{err: err}
			return
		}
		id, err := w.Add(ctx, txb, OrderPlaced{OrderID: "K", N: 2})
		if err == nil {
			err = txb.Commit(ctx)
		}
		bdone <- result{id, time.Now(), err}
	}()
	time.Sleep(300 * time.Millisecond) // B's insert is waiting, or B would have committed by now
	aAt := time.Now()
	if err := txa.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	b := <-bdone
	if b.err != nil {
		t.Fatal(b.err)
	}
	first, second := ida, b.id
	if b.at.Before(aAt) {
		first, second = b.id, ida // B committed first: that is the order to keep
	}
	stop := runRelay(t, e.relay(t, e.store))
	e.drained(t)
	stop()
	recs := e.readAll(t, 2)
	if len(recs) != 2 || recs[0].id != first || recs[1].id != second {
		t.Fatalf("topic order %v, want commit order %s, %s", recs, first, second)
	}
	if first != ida {
		t.Fatalf("B committed before A: the key lock did not serialise the transactions")
	}
}

// TestPGRelaysKilled protects hand-over between relays: two relays share
// the table while 8 connections commit 4000 events; the first relay's
// database connections are terminated three times (its session dies, its
// lanes go to the other, it reconnects and takes some back). Every event
// is on the topic, first copies in commit order; the only duplicates are
// events a dead session had published but not deleted, each with its own
// event ID.
func TestPGRelaysKilled(t *testing.T) {
	e := startEnv(t, 8)
	w := e.writer(t)
	s1, err := pgoutbox.New(pgURL+"&application_name=relay1", pgoutbox.Table(e.table))
	if err != nil {
		t.Fatal(err)
	}
	r1 := e.relay(t, s1, outbox.BatchSize(100))
	r2 := e.relay(t, e.store, outbox.BatchSize(100))
	stop1, stop2 := runRelay(t, r1), runRelay(t, r2)
	admin := e.conn(t)
	killed := make(chan int, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		n := 0
		for i := 0; i < 3 && ctx.Err() == nil; i++ {
			time.Sleep(300 * time.Millisecond)
			var k int
			if err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE application_name = 'relay1'`).Scan(&k); err != nil && !errors.Is(err, context.Canceled) {
				t.Error(err)
			}
			n += k
		}
		killed <- n
	}()
	var l writeLog
	l.write(t, e, w, 64, 4000, 8)
	n := <-killed
	e.drained(t)
	stop1()
	stop2()
	dups := l.check(t, e.readAll(t, l.total()))
	t.Logf("killed %d connections; relay 1 %+v, relay 2 %+v; %d events duplicated", n, r1.Stats(), r2.Stats(), len(dups))
	if n == 0 {
		t.Fatal("no connection of relay 1 was terminated")
	}
	if r1.Stats().Published == 0 || r2.Stats().Published == 0 {
		t.Fatalf("relay 1 %+v, relay 2 %+v: the lanes were not shared", r1.Stats(), r2.Stats())
	}
}

// TestPGBadConfig: New refuses a bad table name, lane count and
// connection string.
func TestPGBadConfig(t *testing.T) {
	for _, tc := range []struct {
		url  string
		opts []pgoutbox.Option
	}{
		{pgURL, []pgoutbox.Option{pgoutbox.Table("Drop Table")}},
		{pgURL, []pgoutbox.Option{pgoutbox.Lanes(0)}},
		{"::not a url", nil},
	} {
		if _, err := pgoutbox.New(tc.url, tc.opts...); !errors.Is(err, pgoutbox.ErrInvalidConfig) {
			t.Errorf("New(%q, %d options) = %v, want ErrInvalidConfig", tc.url, len(tc.opts), err)
		}
	}
}

// crashStore wraps a store: the crashAt-th Mark of its sessions does not
// happen and calls crash instead, as a relay killed after the broker's
// acknowledgement and before its DELETE.
type crashStore struct {
	outbox.Store
	crashAt int
	crash   func()

	mu      sync.Mutex
	marks   int
	crashed []outbox.Row
}

func (s *crashStore) Open(ctx context.Context) (outbox.Session, error) {
	sess, err := s.Store.Open(ctx)
	if err != nil {
		return nil, err
	}
	return &crashSession{Session: sess, s: s}, nil
}

type crashSession struct {
	outbox.Session
	s *crashStore
}

func (c *crashSession) Mark(ctx context.Context, rows []outbox.Row) error {
	s := c.s
	s.mu.Lock()
	s.marks++
	if s.marks == s.crashAt {
		s.crashed = rows
		s.mu.Unlock()
		s.crash()
		return errors.New("killed")
	}
	s.mu.Unlock()
	return c.Session.Mark(ctx, rows)
}

// TestPGCrashBetweenAckAndMark protects the duplicate bound on
// PostgreSQL: a relay killed between the broker's acknowledgement of a
// batch and its DELETE leaves the rows, a second relay publishes them
// again, and the only duplicates are that batch's events, once each, with
// their own event IDs; first copies stay in commit order.
func TestPGCrashBetweenAckAndMark(t *testing.T) {
	e := startEnv(t, 6)
	var l writeLog
	l.write(t, e, e.writer(t), 32, 2000, 4)
	ctx, cancel := context.WithCancel(context.Background())
	cs := &crashStore{Store: e.store, crashAt: 3, crash: cancel}
	if err := e.relay(t, cs, outbox.BatchSize(150)).Run(ctx); err != nil {
		t.Fatal(err)
	}
	if len(cs.crashed) == 0 {
		t.Fatal("the relay was not killed")
	}
	stop := runRelay(t, e.relay(t, e.store, outbox.BatchSize(150)))
	e.drained(t)
	stop()
	dups := l.check(t, e.readAll(t, l.total()+len(cs.crashed)))
	want := map[string]bool{}
	for _, r := range cs.crashed {
		want[r.Event.EventID] = true
	}
	for id, n := range dups {
		if !want[id] || n != 2 {
			t.Fatalf("event %s published %d times; only the killed batch's events may be duplicated, once", id, n)
		}
	}
	if len(dups) != len(want) {
		t.Fatalf("%d duplicates, want the killed batch's %d", len(dups), len(want))
	}
}
