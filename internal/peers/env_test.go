package peers

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/ordo-go/ordo/internal/embedded"
	"github.com/ordo-go/ordo/producer"
	"github.com/ordo-go/ordo/schema"
)

// Payload is the event every side writes and reads: ~100 bytes framed.
type Payload struct {
	Key  string `avro:"key"`
	Seq  int64  `avro:"seq"`
	Body string `avro:"body"`
}

const payloadSchema = `{"type":"record","name":"Payload","namespace":"ordo.bench","fields":[
	{"name":"key","type":"string"},{"name":"seq","type":"long"},{"name":"body","type":"string"}]}`

// PartitionKey keeps a key's events in order (partition.Keyed, for ordo).
func (p Payload) PartitionKey() string { return p.Key }

// payloadAvro is the parsed schema, for confluent-kafka-go's serializer.
var payloadAvro = avro.MustParse(payloadSchema)

// Schema hands confluent-kafka-go's avrov2 serializer the schema, so it
// need not derive one from the struct by reflection on every record (its
// slow path, and a schema whose name would differ from the other sides').
func (*Payload) Schema() avro.Schema { return payloadAvro }

const (
	numKeys       = 10_000
	numPartitions = 6
)

var (
	keys = func() []string {
		k := make([]string, numKeys)
		for i := range k {
			k[i] = "key-" + strconv.Itoa(i)
		}
		return k
	}()
	body = strings.Repeat("x", 64)
)

// record is the i-th record of a run: keys in turn, each key's seq
// counting up from 1.
func record(i int) Payload {
	return Payload{Key: keys[i%numKeys], Seq: int64(i/numKeys + 1), Body: body}
}

// quiet is the logger of every side: a benchmark prints nothing but its
// results.
var quiet = slog.New(slog.DiscardHandler)

// env is a one-broker kfake cluster and an srfake registry in the process.
type env struct {
	cluster *embedded.Cluster
	reg     *schema.Registry
	codec   *schema.Codec[Payload]
}

func startEnv(tb testing.TB, topics ...string) *env {
	tb.Helper()
	ts := make(map[string]int32, len(topics))
	for _, t := range topics {
		ts[t] = numPartitions
	}
	c, err := embedded.Start(embedded.Config{Brokers: 1, Topics: ts})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	reg, err := schema.NewRegistry([]string{c.RegistryURL()})
	if err != nil {
		tb.Fatal(err)
	}
	codec, err := schema.NewCodec[Payload](payloadSchema)
	if err != nil {
		tb.Fatal(err)
	}
	return &env{cluster: c, reg: reg, codec: codec}
}

// register registers the payload schema under topic's value subject, as
// every side's producer does, and returns its ID.
func (e *env) register(tb testing.TB, topic string) int {
	tb.Helper()
	id, err := e.reg.Register(context.Background(), topic+"-value", e.codec.Schema())
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

// fill publishes records 0..n-1 to topic with ordo's producer, so the
// consume runs read what ordo writes: its headers, murmur2 placement.
func (e *env) fill(tb testing.TB, topic string, n int) {
	tb.Helper()
	ordoPublish(tb, e, topic, n, &meter{})
}

// meter is what a side reports to while it runs: when it started, each
// record it published or decoded, and (for consume) when it has seen n.
// Sides call it from any goroutine.
type meter struct {
	n      int64 // records to see; 0: no limit
	markAt int64 // the record whose time starts the steady rate
	got    func(*Payload)

	start, mark, end time.Time
	seenN            atomic.Int64
	done             chan struct{}
	doneOnce         sync.Once
}

func newMeter(n int, got func(*Payload)) *meter {
	return &meter{n: int64(n), markAt: int64(n/4 + 1), got: got, done: make(chan struct{})}
}

// begin marks the start: a side calls it just before it builds the
// client that does the timed work.
func (m *meter) begin() { m.start = time.Now() }

// seen counts one decoded record.
func (m *meter) seen(p *Payload) {
	if m.got != nil {
		m.got(p)
	}
	c := m.seenN.Add(1)
	if c == m.markAt {
		m.mark = time.Now()
	}
	if c == m.n {
		m.finish()
	}
}

// finish marks the end: the n-th record decoded, or (for publish) the
// last acknowledged. Closing a client is not timed: librdkafka's close,
// for one, waits out a fetch parked at the broker for up to 500 ms.
func (m *meter) finish() {
	m.doneOnce.Do(func() {
		m.end = time.Now()
		if m.done != nil {
			close(m.done)
		}
	})
}

// wait blocks until n records are seen; it fails tb when failed yields
// (a side's consumer stopped) or when the side takes longer than any
// run should: a slow run is measured, a stuck one fails.
func (m *meter) wait(tb testing.TB, failed <-chan error) {
	tb.Helper()
	within := 30*time.Second + time.Duration(m.n)*time.Millisecond
	select {
	case <-m.done:
	case err := <-failed:
		tb.Fatalf("consumer stopped after %d of %d records: %v", m.seenN.Load(), m.n, err)
	case <-time.After(within):
		tb.Fatalf("saw %d of %d records in %v", m.seenN.Load(), m.n, within)
	}
}

// ordoPublish publishes records 0..n-1 asynchronously through ordo and
// returns when all are acknowledged.
func ordoPublish(tb testing.TB, e *env, topic string, n int, m *meter) {
	tb.Helper()
	ctx := context.Background()
	p, err := producer.New(producer.Brokers(e.cluster.Brokers()...), producer.Registry(e.reg), producer.WithLogger(quiet))
	if err != nil {
		tb.Fatal(err)
	}
	defer p.Close()
	pub, err := producer.NewPublisher(ctx, p, topic, e.codec)
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	done := func(_ producer.Result, err error) {
		if err != nil {
			failed.CompareAndSwap(nil, &err)
		}
		wg.Done()
	}
	m.begin()
	for i := range n {
		wg.Add(1)
		if err := pub.PublishAsync(ctx, record(i), done); err != nil {
			tb.Fatal(err)
		}
	}
	wg.Wait()
	m.finish()
	if err := failed.Load(); err != nil {
		tb.Fatal(*err)
	}
}
