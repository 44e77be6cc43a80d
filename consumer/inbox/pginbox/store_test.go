//go:build integration

package pginbox_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql's "pgx" driver
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/consumer"
	"github.com/ordo-go/ordo/consumer/consumertest"
	"github.com/ordo-go/ordo/consumer/inbox"
	"github.com/ordo-go/ordo/consumer/inbox/pginbox"
	"github.com/ordo-go/ordo/internal/pgtest"
	"github.com/ordo-go/ordo/producer"
	"github.com/ordo-go/ordo/schema"
)

var pgURL string

func TestMain(m *testing.M) {
	srv, err := pgtest.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pgURL = srv.URL
	code := m.Run()
	if err := srv.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

// names returns a test's marks and effects tables.
func names(t testing.TB) (marks, effects string) {
	n := strings.ToLower(strings.NewReplacer("/", "_", "-", "_").Replace(t.Name()))
	return "mk_" + n, "fx_" + n
}

func conn(t testing.TB) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), pgURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func sqlDB(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", pgURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func meta(id string) consumer.Meta {
	return consumer.Meta{Topic: "orders", Offset: 1, Attempt: 1,
		Headers: []kgo.RecordHeader{{Key: "ordo-id", Value: []byte(id)}}}
}

func count(t testing.TB, c *pgx.Conn, table string) int {
	t.Helper()
	var n int
	if err := c.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPGRedeliveryAndRetry protects the inbox on PostgreSQL through pgx:
// a failed attempt rolls back its effect and its mark; the retry applies
// the effect; a redelivery is skipped and counted; Purge deletes marks
// older than the retention.
func TestPGRedeliveryAndRetry(t *testing.T) {
	ctx := context.Background()
	c := conn(t)
	marks, effects := names(t)
	store, err := pginbox.New(c, pginbox.Table(marks))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Init(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, "CREATE TABLE "+effects+" (id text)"); err != nil {
		t.Fatal(err)
	}
	in, err := inbox.New(store, inbox.Retention(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	fail := true
	boom := errors.New("boom")
	h := inbox.Handle(in, func(ctx context.Context, tx pgx.Tx, _ string, m consumer.Meta) error {
		if _, err := tx.Exec(ctx, "INSERT INTO "+effects+" (id) VALUES ($1)", m.EventID()); err != nil {
			return err
		}
		if fail {
			fail = false
			return boom
		}
		return nil
	})
	if err := h(ctx, "ev", meta("e-1")); !errors.Is(err, boom) {
		t.Fatalf("first attempt: %v, want boom", err)
	}
	if n, m := count(t, c, effects), count(t, c, marks); n != 0 || m != 0 {
		t.Fatalf("failed attempt left %d effects, %d marks", n, m)
	}
	for range 3 {
		if err := h(ctx, "ev", meta("e-1")); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(t, c, effects); n != 1 || in.Duplicates() != 2 {
		t.Fatalf("%d effects, %d duplicates; want 1, 2", n, in.Duplicates())
	}
	if _, err := c.Exec(ctx, "UPDATE "+marks+" SET at = now() - interval '2 hours'"); err != nil {
		t.Fatal(err)
	}
	if err := h(ctx, "ev", meta("e-2")); err != nil {
		t.Fatal(err)
	}
	if n, err := in.Purge(ctx); n != 1 || err != nil || count(t, c, marks) != 1 {
		t.Fatalf("Purge = %d, %v, want 1 (the mark older than the retention)", n, err)
	}
}

// TestPGConcurrentDeliveries protects a record delivered twice at once
// (a rebalance overlap): through database/sql, the second transaction
// waits on the first's mark and is a duplicate; the effect is applied
// once.
func TestPGConcurrentDeliveries(t *testing.T) {
	ctx := context.Background()
	db := sqlDB(t)
	marks, effects := names(t)
	store, err := pginbox.NewSQL(db, pginbox.Table(marks))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "CREATE TABLE "+effects+" (id text)"); err != nil {
		t.Fatal(err)
	}
	in, err := inbox.New(store)
	if err != nil {
		t.Fatal(err)
	}
	h := inbox.Handle(in, func(ctx context.Context, tx *sql.Tx, _ string, m consumer.Meta) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO "+effects+" (id) VALUES ($1)", m.EventID())
		time.Sleep(200 * time.Millisecond) // hold the mark uncommitted
		return err
	})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if err := h(ctx, "ev", meta("e-1")); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := count(t, conn(t), effects); n != 1 || in.Duplicates() != 1 {
		t.Fatalf("%d effects, %d duplicates; want 1, 1", n, in.Duplicates())
	}
}

type OrderPaid struct {
	OrderID string `avro:"order_id"`
	N       int64  `avro:"n"`
}

func (e OrderPaid) PartitionKey() string { return e.OrderID }

// TestPGInboxInConsumer protects the inbox with a running consumer and
// PostgreSQL: 300 events over 15 keys, 60 of them written twice with one
// event ID, every fifth failing its first attempt: each event's row is
// written once and 60 copies are skipped.
func TestPGInboxInConsumer(t *testing.T) {
	env := consumertest.Start(t, consumertest.Topic("orders", 4))
	codec, err := schema.NewCodec[OrderPaid](`{"type":"record","name":"OrderPaid","namespace":"ordo.test.pginbox","fields":[
		{"name":"order_id","type":"string"},{"name":"n","type":"long"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p := env.Producer(t)
	pub, err := producer.NewPublisher(ctx, p, "orders", codec)
	if err != nil {
		t.Fatal(err)
	}
	const n, keys, twice = 300, 15, 60
	for i := range n {
		s, err := pub.Seal(ctx, OrderPaid{OrderID: fmt.Sprintf("o-%d", i%keys), N: int64(i)})
		if err != nil {
			t.Fatal(err)
		}
		copies := 1
		if i%(n/twice) == 0 {
			copies = 2
		}
		for range copies {
			errc := make(chan error, 1)
			if err := p.PublishSealed(ctx, &s, func(_ producer.Result, err error) { errc <- err }); err != nil {
				t.Fatal(err)
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
		}
	}
	db := sqlDB(t)
	marks, effects := names(t)
	store, err := pginbox.NewSQL(db, pginbox.Table(marks))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "CREATE TABLE "+effects+" (k text, n bigint)"); err != nil {
		t.Fatal(err)
	}
	in, err := inbox.New(store, inbox.Scope("billing"))
	if err != nil {
		t.Fatal(err)
	}
	h := inbox.Handle(in, func(ctx context.Context, tx *sql.Tx, ev OrderPaid, m consumer.Meta) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO "+effects+" (k, n) VALUES ($1, $2)", ev.OrderID, ev.N); err != nil {
			return err
		}
		if ev.N%3 == 0 && m.Attempt == 1 {
			return fmt.Errorf("first attempt of %d fails", ev.N)
		}
		return nil
	})
	c, err := consumer.New(append(env.ConsumerOptions("billing", "orders"),
		consumer.On(codec, h), consumer.Retry(5, time.Millisecond, 10*time.Millisecond))...)
	if err != nil {
		t.Fatal(err)
	}
	env.Run(t, c)
	pc := conn(t)
	for count(t, pc, effects) < n || in.Duplicates() < twice {
		if ctx.Err() != nil {
			t.Fatalf("%d effects of %d, %d duplicates of %d", count(t, pc, effects), n, in.Duplicates(), twice)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	var rows, distinct int
	if err := pc.QueryRow(ctx, "SELECT count(*), count(DISTINCT n) FROM "+effects).Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	if rows != n || distinct != n || in.Duplicates() != twice {
		t.Fatalf("%d effects (%d distinct), %d duplicates; want %d, %d, %d", rows, distinct, in.Duplicates(), n, n, twice)
	}
}
