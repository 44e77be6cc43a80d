package producer

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/ordo-go/ordo/internal/embedded"
	"github.com/ordo-go/ordo/schema"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Test events: an order's life on one key, and an unkeyed metric.

type Created struct {
	OrderID string `avro:"order_id"`
	Amount  int64  `avro:"amount"`
}

func (e Created) PartitionKey() string { return e.OrderID }

type Paid struct {
	OrderID string `avro:"order_id"`
	Method  string `avro:"method"`
}

func (e Paid) PartitionKey() string { return e.OrderID }

type Shipped struct {
	OrderID string `avro:"order_id"`
}

func (e Shipped) PartitionKey() string { return e.OrderID }

// Metric has no PartitionKey: NewPublisher[Metric] does not compile
// ("Metric does not satisfy partition.Keyed"); only NewUnorderedPublisher
// takes it.
type Metric struct {
	Name  string  `avro:"name"`
	Value float64 `avro:"value"`
}

const (
	createdAvsc = `{"type":"record","name":"Created","namespace":"ordo.test.orders","fields":[
		{"name":"order_id","type":"string"},{"name":"amount","type":"long"}]}`
	paidAvsc = `{"type":"record","name":"Paid","namespace":"ordo.test.orders","fields":[
		{"name":"order_id","type":"string"},{"name":"method","type":"string"}]}`
	shippedAvsc = `{"type":"record","name":"Shipped","namespace":"ordo.test.orders","fields":[
		{"name":"order_id","type":"string"}]}`
	metricAvsc = `{"type":"record","name":"Metric","namespace":"ordo.test","fields":[
		{"name":"name","type":"string"},{"name":"value","type":"double"}]}`
)

func codec[T any](t testing.TB, avsc string) *schema.Codec[T] {
	t.Helper()
	c, err := schema.NewCodec[T](avsc)
	if err != nil {
		t.Fatalf("NewCodec: %v", err)
	}
	return c
}

// env is one embedded cluster and registry for a test.
type env struct {
	c   *embedded.Cluster
	reg *schema.Registry
}

func startEnv(t testing.TB, topics map[string]int32) *env {
	t.Helper()
	c, err := embedded.Start(embedded.Config{Brokers: 1, Topics: topics})
	if err != nil {
		t.Fatalf("embedded.Start: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	reg, err := schema.NewRegistry([]string{c.RegistryURL()})
	if err != nil {
		t.Fatalf("NewRegistry: %v", err)
	}
	return &env{c: c, reg: reg}
}

// producer starts a producer on the env with opts added to the defaults;
// it is closed when the test ends.
func (e *env) producer(t testing.TB, opts ...Option) *Producer {
	t.Helper()
	all := append([]Option{Brokers(e.c.Brokers()...), Registry(e.reg), Linger(0)}, opts...)
	p, err := New(all...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

// readAll consumes topic from the start until it has n records.
func (e *env) readAll(t testing.TB, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(e.c.Brokers()...),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		t.Fatalf("consumer: %v", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for len(recs) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %s: have %d records, want %d: %v", topic, len(recs), n, err)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", tp, p, err) })
		recs = append(recs, fs.Records()...)
	}
	if len(recs) != n {
		t.Fatalf("read %d records from %s, want %d", len(recs), topic, n)
	}
	return recs
}

// syncBuffer is a concurrency-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testLogger(buf *syncBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// addPartitions adds n partitions to topic through the admin API.
func (e *env) addPartitions(t testing.TB, topic string, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.c.Brokers()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rs, err := kadm.NewClient(cl).CreatePartitions(ctx, n, topic)
	if err == nil {
		err = rs.Error()
	}
	if err != nil {
		t.Fatalf("add %d partitions to %s: %v", n, topic, err)
	}
}
