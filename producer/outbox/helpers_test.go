package outbox_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/ordo-go/ordo/internal/embedded"
	"github.com/ordo-go/ordo/internal/header"
	"github.com/ordo-go/ordo/producer"
	"github.com/ordo-go/ordo/producer/outbox"
	"github.com/ordo-go/ordo/schema"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type OrderPlaced struct {
	OrderID string `avro:"order_id"`
	N       int64  `avro:"n"`
}

func (e OrderPlaced) PartitionKey() string { return e.OrderID }

const placedAvsc = `{"type":"record","name":"OrderPlaced","namespace":"ordo.test.outbox","fields":[
	{"name":"order_id","type":"string"},{"name":"n","type":"long"}]}`

const topic = "orders"

type env struct {
	c   *embedded.Cluster
	reg *schema.Registry
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
	return &env{c: c, reg: reg}
}

func (e *env) producer(t testing.TB, opts ...producer.Option) *producer.Producer {
	t.Helper()
	p, err := producer.New(append([]producer.Option{producer.Brokers(e.c.Brokers()...), producer.Registry(e.reg)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func (e *env) publisher(t testing.TB, p *producer.Producer) *producer.Publisher[OrderPlaced] {
	t.Helper()
	c, err := schema.NewCodec[OrderPlaced](placedAvsc)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := producer.NewPublisher(context.Background(), p, topic, c)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// got is one record read back: its key, event ID and partition.
type got struct {
	key, id string
	part    int32
}

// readAll reads topic from the start until it holds at least n records
// and no more arrive for a moment, in offset order per partition.
func (e *env) readAll(t testing.TB, n int) []got {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.c.Brokers()...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	deadline := time.Now().Add(30 * time.Second)
	var out []got
	for {
		// A poll that finds nothing for 500ms after n records ends the
		// read: duplicates beyond n are counted too.
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			id, _ := header.Get(r.Headers, header.ID)
			out = append(out, got{key: string(r.Key), id: id, part: r.Partition})
		})
		if fs.NumRecords() == 0 && len(out) >= n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("read %s: have %d records, want %d", topic, len(out), n)
		}
	}
	return out
}

// writer adds events to a memory outbox, one goroutine per group of keys,
// and remembers each key's committed event IDs in commit order.
type writer struct {
	mu        sync.Mutex
	committed map[string][]string // key → event IDs, commit order
}

// write adds n events over keys keys from workers goroutines; every
// seventh transaction rolls back. It returns once all are committed.
func (w *writer) write(t testing.TB, m *outbox.Memory, ow *outbox.Writer[*outbox.MemTx, OrderPlaced], keys, n, workers int) {
	t.Helper()
	if w.committed == nil {
		w.committed = make(map[string][]string)
	}
	var wg sync.WaitGroup
	for g := range workers {
		wg.Go(func() {
			for i := g; i < n; i += workers {
				key := fmt.Sprintf("o-%d", (i/workers)%(keys/workers)*workers+g)
				tx := m.Begin()
				id, err := ow.Add(context.Background(), tx, OrderPlaced{OrderID: key, N: int64(i)})
				if err != nil {
					t.Error(err)
					return
				}
				if i%7 == 6 {
					tx.Rollback()
					continue
				}
				if err := tx.Commit(); err != nil {
					t.Error(err)
					return
				}
				w.mu.Lock()
				w.committed[key] = append(w.committed[key], id)
				w.mu.Unlock()
			}
		})
	}
	wg.Wait()
}

func (w *writer) total() int {
	n := 0
	for _, ids := range w.committed {
		n += len(ids)
	}
	return n
}

// check verifies what the topic holds against what was committed: every
// committed event present, nothing rolled back, each key on one
// partition, and per key the first copies in commit order. It returns the
// IDs seen more than once.
func (w *writer) check(t testing.TB, recs []got) map[string]int {
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
	for key, want := range w.committed {
		if !slices.Equal(perKey[key], want) {
			t.Fatalf("key %s: first copies %d events, committed %d, or out of commit order:\n got %v\nwant %v",
				key, len(perKey[key]), len(want), perKey[key], want)
		}
	}
	if len(perKey) != len(w.committed) {
		t.Fatalf("topic has %d keys, committed %d (rolled-back events published?)", len(perKey), len(w.committed))
	}
	dups := map[string]int{}
	for id, n := range seen {
		if n > 1 {
			dups[id] = n
		}
	}
	return dups
}

// runRelay runs r until the returned stop is called, which waits for Run
// to return and fails the test on its error.
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

// drained waits until m holds no row.
func drained(t testing.TB, m *outbox.Memory) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for m.Len() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("outbox still holds %d rows after 30s", m.Len())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
