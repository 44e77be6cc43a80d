//go:build integration

package pgoutbox_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/internal/embedded"
	"github.com/ordo-go/ordo/internal/header"
	"github.com/ordo-go/ordo/internal/pgtest"
	"github.com/ordo-go/ordo/producer"
	"github.com/ordo-go/ordo/producer/outbox"
	"github.com/ordo-go/ordo/producer/outbox/pgoutbox"
	"github.com/ordo-go/ordo/schema"
)

// pgURL is the server every test of the package uses; each test has
// tables of its own.
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

type OrderPlaced struct {
	OrderID string `avro:"order_id"`
	N       int64  `avro:"n"`
}

func (e OrderPlaced) PartitionKey() string { return e.OrderID }

const placedAvsc = `{"type":"record","name":"OrderPlaced","namespace":"ordo.test.outbox","fields":[
	{"name":"order_id","type":"string"},{"name":"n","type":"long"}]}`

const topic = "orders"

// env is a test's cluster, registry, store and state table.
type env struct {
	c     *embedded.Cluster
	reg   *schema.Registry
	store *pgoutbox.Store
	table string // the outbox table
	state string // the service's own table, written in the same transactions
}

func startEnv(t testing.TB, partitions int32) *env {
	t.Helper()
	c, err := embedded.Start(embedded.Config{Brokers: 1, Topics: map[string]int32{topic: partitions}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	reg, err := schema.NewRegistry([]string{c.RegistryURL()})
	if err != nil {
		t.Fatal(err)
	}
	name := strings.ToLower(strings.NewReplacer("/", "_", "-", "_", "=", "_").Replace(t.Name()))
	e := &env{c: c, reg: reg, table: "ob_" + name, state: "st_" + name}
	if e.store, err = pgoutbox.New(pgURL, pgoutbox.Table(e.table)); err != nil {
		t.Fatal(err)
	}
	conn := e.conn(t)
	if err := e.store.Init(context.Background(), conn); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(context.Background(), fmt.Sprintf(
		"DROP TABLE IF EXISTS %[1]s; CREATE TABLE %[1]s (order_id text, n bigint)", e.state)); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) conn(t testing.TB) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func (e *env) producer(t testing.TB) *producer.Producer {
	t.Helper()
	p, err := producer.New(producer.Brokers(e.c.Brokers()...), producer.Registry(e.reg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func (e *env) writer(t testing.TB) *outbox.Writer[pgx.Tx, OrderPlaced] {
	t.Helper()
	c, err := schema.NewCodec[OrderPlaced](placedAvsc)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := producer.NewPublisher(context.Background(), e.producer(t), topic, c)
	if err != nil {
		t.Fatal(err)
	}
	w, err := outbox.NewWriter[pgx.Tx](pub, e.store)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func (e *env) relay(t testing.TB, s outbox.Store, opts ...outbox.RelayOption) *outbox.Relay {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	r, err := outbox.NewRelay(e.producer(t), s,
		append([]outbox.RelayOption{outbox.Backoff(50 * time.Millisecond), outbox.WithLogger(quiet)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// rows counts the outbox's rows.
func (e *env) rows(t testing.TB, conn *pgx.Conn) int {
	t.Helper()
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM "+e.table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// drained waits until the outbox is empty.
func (e *env) drained(t testing.TB) {
	t.Helper()
	conn := e.conn(t)
	deadline := time.Now().Add(60 * time.Second)
	for e.rows(t, conn) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("outbox still holds %d rows after 60s", e.rows(t, conn))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// writeLog records each key's committed event IDs in commit order.
type writeLog struct {
	mu        sync.Mutex
	committed map[string][]string
}

// write commits n events over keys keys from workers connections, each
// with a row of the service's own table; every seventh transaction rolls
// back. Each key is written by one worker, so its commit order is the
// worker's order.
func (l *writeLog) write(t testing.TB, e *env, w *outbox.Writer[pgx.Tx, OrderPlaced], keys, n, workers int) {
	t.Helper()
	l.mu.Lock()
	if l.committed == nil {
		l.committed = map[string][]string{}
	}
	l.mu.Unlock()
	ctx := context.Background()
	ins := fmt.Sprintf("INSERT INTO %s (order_id, n) VALUES ($1, $2)", e.state)
	var wg sync.WaitGroup
	for g := range workers {
		conn := e.conn(t)
		wg.Go(func() {
			for i := g; i < n; i += workers {
				key := fmt.Sprintf("o-%d", (i/workers)%(keys/workers)*workers+g)
				if err := l.one(ctx, conn, w, ins, key, i); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func (l *writeLog) one(ctx context.Context, conn *pgx.Conn, w *outbox.Writer[pgx.Tx, OrderPlaced], ins, key string, i int) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, ins, key, i); err != nil {
		return err
	}
	id, err := w.Add(ctx, tx, OrderPlaced{OrderID: key, N: int64(i)})
	if err != nil || i%7 == 6 {
		return err // rolled back by the defer
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	l.mu.Lock()
	l.committed[key] = append(l.committed[key], id)
	l.mu.Unlock()
	return nil
}

func (l *writeLog) total() int {
	n := 0
	for _, ids := range l.committed {
		n += len(ids)
	}
	return n
}

type got struct {
	key, id string
	part    int32
}

// readAll reads the topic until it holds at least n records and a poll
// finds nothing more.
func (e *env) readAll(t testing.TB, n int) []got {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.c.Brokers()...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	deadline := time.Now().Add(60 * time.Second)
	var out []got
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			id, _ := header.Get(r.Headers, header.ID)
			out = append(out, got{key: string(r.Key), id: id, part: r.Partition})
		})
		if fs.NumRecords() == 0 && len(out) >= n {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("read %s: have %d records, want %d", topic, len(out), n)
		}
	}
}

// check verifies the topic against the log: every committed event, none
// rolled back, each key on one partition, first copies in commit order.
// It returns how often each duplicated ID was seen.
func (l *writeLog) check(t testing.TB, recs []got) map[string]int {
	t.Helper()
	perKey := map[string][]string{}
	seen := map[string]int{}
	part := map[string]int32{}
	for _, r := range recs {
		if p, ok := part[r.key]; ok && p != r.part {
			t.Fatalf("key %s on partitions %d and %d", r.key, p, r.part)
		}
		part[r.key] = r.part
		if seen[r.id]++; seen[r.id] == 1 {
			perKey[r.key] = append(perKey[r.key], r.id)
		}
	}
	for key, want := range l.committed {
		if !slices.Equal(perKey[key], want) {
			t.Fatalf("key %s: %d first copies, %d committed, or out of commit order:\n got %v\nwant %v",
				key, len(perKey[key]), len(want), perKey[key], want)
		}
	}
	if len(perKey) != len(l.committed) {
		t.Fatalf("topic has %d keys, committed %d", len(perKey), len(l.committed))
	}
	dups := map[string]int{}
	for id, n := range seen {
		if n > 1 {
			dups[id] = n
		}
	}
	return dups
}

func runRelay(t testing.TB, r *outbox.Relay) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- r.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-errc; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}
