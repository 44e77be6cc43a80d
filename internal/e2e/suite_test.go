//go:build integration

package e2e

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/ordo-go/ordo/consumer"
	"github.com/ordo-go/ordo/internal/kafkatest"
	"github.com/ordo-go/ordo/partition"
	"github.com/ordo-go/ordo/producer"
	"github.com/ordo-go/ordo/schema"
)

// TestOrderedRoundTrip: typed events published by ordo land where the
// murmur2 placement says, and a consumer with far more lanes than
// partitions handles every one, each key in order and one at a time.
func TestOrderedRoundTrip(t *testing.T) {
	ctx := kafkatest.Bound(t, 5*time.Minute)
	e := newEnv(ctx, t, kafkatest.StartBroker(ctx, t), 6, 1)
	codec := e.codec("Step")
	pub, err := producer.NewPublisher(ctx, e.producer(), e.topic, codec)
	if err != nil {
		t.Fatal(err)
	}
	const keys, perKey = 300, 10
	publishSteps(ctx, t, pub, keys, perKey, 0)
	// Placement: read back raw and compare with partition.For.
	cl := e.cluster.Client(t, kgo.ConsumeTopics(e.topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	for seen := 0; seen < keys*perKey; {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatal(ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) {
			if want := partition.For(r.Key, 6); int32(want) != r.Partition {
				t.Fatalf("key %s on partition %d, partition.For says %d", r.Key, r.Partition, want)
			}
			if r.Value[0] != schema.MagicByte {
				t.Fatalf("value does not start with the Confluent magic byte: %x", r.Value[:5])
			}
			seen++
		})
	}

	b := newBook()
	c := e.consumer("roundtrip", consumer.Concurrency(48), consumer.On(codec, b.handle(time.Millisecond)))
	stop := run(t, c)
	waitFor(t, 2*time.Minute, "every event", func() bool { d, _ := b.count(); return d == keys*perKey })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	b.check(t, keys, perKey)
	if _, total := b.count(); total != keys*perKey {
		t.Fatalf("%d handlings of %d events: duplicates without a restart", total, keys*perKey)
	}
	if st := c.Stats(); st.OrderViolations != 0 {
		t.Fatalf("sequence checks saw %d violations", st.OrderViolations)
	}
}

// TestRestartAndRebalance: a consumer is closed mid-stream without a
// graceful shutdown while three members join and leave; every event is
// handled, per-key order holds across the hand-offs, and duplicates stay
// bounded by the work the closed members had not committed.
func TestRestartAndRebalance(t *testing.T) {
	ctx := kafkatest.Bound(t, 10*time.Minute)
	cluster := kafkatest.StartBroker(ctx, t)
	for _, proto := range []consumer.Protocol{consumer.ClassicProtocol, consumer.ConsumerProtocol} {
		t.Run(proto.String(), func(t *testing.T) { restartAndRebalance(ctx, t, cluster, proto) })
	}
}

// restartAndRebalance is TestRestartAndRebalance under one group protocol.
func restartAndRebalance(ctx context.Context, t *testing.T, cluster *kafkatest.Cluster, proto consumer.Protocol) {
	e := newEnv(ctx, t, cluster, 6, 1)
	codec := e.codec("Step")
	pub, err := producer.NewPublisher(ctx, e.producer(), e.topic, codec)
	if err != nil {
		t.Fatal(err)
	}
	const keys, perKey = 200, 15
	b := newBook()
	opts := []consumer.Option{consumer.Concurrency(16), consumer.On(codec, b.handle(2*time.Millisecond)),
		consumer.GroupProtocol(proto)}

	stopA := run(t, e.consumer("rebalance", opts...))
	publishSteps(ctx, t, pub, keys, 5, 0)
	waitFor(t, time.Minute, "a first share", func() bool { d, _ := b.count(); return d >= 300 })
	stopB := run(t, e.consumer("rebalance", opts...))
	publishSteps(ctx, t, pub, keys, 5, 5)
	waitFor(t, time.Minute, "more progress", func() bool { d, _ := b.count(); return d >= 1200 })
	if err := stopA(); err != nil { // abrupt: in-flight work is abandoned
		t.Fatal(err)
	}
	stopC := run(t, e.consumer("rebalance", opts...))
	publishSteps(ctx, t, pub, keys, 5, 10)
	waitFor(t, 3*time.Minute, "every event", func() bool { d, _ := b.count(); return d == keys*perKey })
	for _, stop := range []func() error{stopB, stopC} {
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	}
	b.check(t, keys, perKey)
	d, total := b.count()
	t.Logf("%d events, %d handlings (%d redelivered after the abrupt close and rebalances)", d, total, total-d)
	if total-d > 1000 {
		t.Fatalf("%d duplicates: more than the buffered, uncommitted work could explain", total-d)
	}
}

// TestMultiTypeAndEvolution: two event types share one topic (record-name
// subjects) and stay in order per key; a v2 producer adds a field with a
// default while a v1 producer keeps writing; the consumer's v2 type reads
// both, and a breaking change is refused at registration.
func TestMultiTypeAndEvolution(t *testing.T) {
	ctx := kafkatest.Bound(t, 5*time.Minute)
	e := newEnv(ctx, t, kafkatest.StartBroker(ctx, t), 3, 1)
	v1 := `{"type":"record","name":"Shipped","namespace":"ordo.e2e","fields":[
		{"name":"key","type":"string"},{"name":"seq","type":"long"},{"name":"note","type":"string"}]}`
	v2 := `{"type":"record","name":"Shipped","namespace":"ordo.e2e","fields":[
		{"name":"key","type":"string"},{"name":"seq","type":"long"},{"name":"note","type":"string"},
		{"name":"carrier","type":"string","default":"unknown"}]}`
	breaking := `{"type":"record","name":"Shipped","namespace":"ordo.e2e","fields":[
		{"name":"key","type":"string"},{"name":"seq","type":"long"},{"name":"weight","type":"int"}]}`

	p1 := e.producer(producer.Subjects(schema.RecordName))
	p2 := e.producer(producer.Subjects(schema.RecordName))
	created := e.codec("Created")
	pubCreated, err := producer.NewPublisher(ctx, p1, e.topic, created)
	if err != nil {
		t.Fatal(err)
	}
	shipV1, err := schema.NewCodec[Step](v1)
	if err != nil {
		t.Fatal(err)
	}
	pubV1, err := producer.NewPublisher(ctx, p1, e.topic, shipV1)
	if err != nil {
		t.Fatal(err)
	}
	shipV2, err := schema.NewCodec[shippedV2](v2)
	if err != nil {
		t.Fatal(err)
	}
	pubV2, err := producer.NewPublisher(ctx, p2, e.topic, shipV2)
	if err != nil {
		t.Fatal(err)
	}
	bad, err := schema.NewCodec[shippedBroken](breaking)
	if err != nil {
		t.Fatal(err)
	}
	if _, err = producer.NewPublisher(ctx, p2, e.topic, bad); !errors.Is(err, schema.ErrIncompatible) {
		t.Fatalf("breaking change: err = %v, want schema.ErrIncompatible", err)
	}

	const keys = 50
	for k := 0; k < keys; k++ {
		key := keyName(k)
		if _, err := pubCreated.Publish(ctx, Step{Key: key, Seq: 1}); err != nil {
			t.Fatal(err)
		}
		if k%2 == 0 {
			_, err = pubV1.Publish(ctx, Step{Key: key, Seq: 2, Note: "v1"})
		} else {
			_, err = pubV2.Publish(ctx, shippedV2{Key: key, Seq: 2, Note: "v2", Carrier: "acme"})
		}
		if err != nil {
			t.Fatal(err)
		}
	}

	b := newBook()
	carriers := make(chan string, keys)
	c := e.consumer("evolution", consumer.Concurrency(8),
		consumer.On(created, b.handle(0)),
		consumer.On(shipV2, func(ctx context.Context, s shippedV2, m consumer.Meta) error {
			carriers <- s.Note + ":" + s.Carrier
			return b.handle(0)(ctx, Step{Key: s.Key, Seq: s.Seq}, m)
		}))
	stop := run(t, c)
	waitFor(t, 2*time.Minute, "both types of every key", func() bool { d, _ := b.count(); return d == 2*keys })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	b.check(t, keys, 2)
	close(carriers)
	counts := map[string]int{}
	for c := range carriers {
		counts[c]++
	}
	if counts["v1:unknown"] != keys/2 || counts["v2:acme"] != keys/2 {
		t.Fatalf("decoded shipments: %v; want v1 records to take the v2 default", counts)
	}
}

type shippedV2 struct {
	Key     string `avro:"key"`
	Seq     int64  `avro:"seq"`
	Note    string `avro:"note"`
	Carrier string `avro:"carrier"`
}

func (s shippedV2) PartitionKey() string { return s.Key }

// shippedBroken drops a field without a default and adds one without a
// default: old events cannot be read with it.
type shippedBroken struct {
	Key    string `avro:"key"`
	Seq    int64  `avro:"seq"`
	Weight int32  `avro:"weight"`
}

func (s shippedBroken) PartitionKey() string { return s.Key }

func keyName(k int) string { return "key-" + string(rune('a'+k/26)) + string(rune('a'+k%26)) }

// TestPartitionCountGuard: partitions added to a live topic with kadm are
// noticed, and an ordered publish is refused with a typed error.
func TestPartitionCountGuard(t *testing.T) {
	ctx := kafkatest.Bound(t, 4*time.Minute)
	e := newEnv(ctx, t, kafkatest.StartBroker(ctx, t), 3, 1)
	p := e.producer(producer.KgoOpts(kgo.MetadataMaxAge(time.Second), kgo.MetadataMinAge(100*time.Millisecond)))
	pub, err := producer.NewPublisher(ctx, p, e.topic, e.codec("Step"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pub.Publish(ctx, Step{Key: "a", Seq: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cluster.Admin(t).CreatePartitions(ctx, 3, e.topic); err != nil {
		t.Fatalf("add partitions: %v", err)
	}
	var changed *partition.CountChangedError
	waitFor(t, time.Minute, "the guard to fire", func() bool {
		_, err := pub.Publish(ctx, Step{Key: "a", Seq: 2})
		return errors.As(err, &changed)
	})
	if changed.Was != 3 || changed.Now != 6 {
		t.Fatalf("guard saw %d -> %d, want 3 -> 6", changed.Was, changed.Now)
	}
}

// TestThreeNodeDurability: ordo's producer (acks=all, idempotent) keeps
// publishing to a replicated topic while a broker is stopped and started
// again; every acknowledged event is consumed, in order per key.
func TestThreeNodeDurability(t *testing.T) {
	ctx := kafkatest.Bound(t, 8*time.Minute)
	cluster := kafkatest.StartCluster(ctx, t, 3)
	e := newEnv(ctx, t, cluster, 6, 3)
	codec := e.codec("Step")
	pub, err := producer.NewPublisher(ctx, e.producer(), e.topic, codec)
	if err != nil {
		t.Fatal(err)
	}
	const keys = 40
	acked := 0 // PublishAll returns only when every event is acknowledged
	publishRound := func(round int) {
		acked += len(publishSteps(ctx, t, pub, keys, 10, int64(round*10)))
	}
	publishRound(0)
	if err := cluster.Stop(ctx, 1); err != nil {
		t.Fatalf("stop node 1: %v", err)
	}
	publishRound(1) // with a node down: min.insync.replicas=2 still holds
	if err := cluster.Start(ctx, 1); err != nil {
		t.Fatalf("start node 1: %v", err)
	}
	publishRound(2)

	b := newBook()
	stop := run(t, e.consumer("durability", consumer.Concurrency(16), consumer.On(codec, b.handle(0))))
	waitFor(t, 3*time.Minute, "every acknowledged event", func() bool { d, _ := b.count(); return d == keys*30 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	b.check(t, keys, 30)
	if acked != keys*30 {
		t.Fatalf("acknowledged %d events, want %d", acked, keys*30)
	}
}

// TestTracePropagation: one trace from the caller's span through ordo's
// producer, a real broker, and the consumer's process and attempt spans.
func TestTracePropagation(t *testing.T) {
	ctx := kafkatest.Bound(t, 4*time.Minute)
	e := newEnv(ctx, t, kafkatest.StartBroker(ctx, t), 2, 1)
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(context.Background())
	prop := propagation.TraceContext{}
	codec := e.codec("Step")
	pub, err := producer.NewPublisher(ctx, e.producer(producer.WithTracerProvider(tp), producer.WithPropagator(prop)), e.topic, codec)
	if err != nil {
		t.Fatal(err)
	}
	rctx, root := tp.Tracer("test").Start(ctx, "checkout")
	if _, err := pub.Publish(rctx, Step{Key: "traced", Seq: 1}); err != nil {
		t.Fatal(err)
	}
	root.End()
	handled := make(chan struct{}, 1)
	c := e.consumer("traced", consumer.WithTracerProvider(tp), consumer.WithPropagator(prop),
		consumer.On(codec, func(context.Context, Step, consumer.Meta) error { handled <- struct{}{}; return nil }))
	stop := run(t, c)
	select {
	case <-handled:
	case <-ctx.Done():
		t.Fatal("event not handled")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	parent := map[string]string{"send " + e.topic: "checkout", "process " + e.topic: "send " + e.topic, "handle ordo.e2e.Step": "process " + e.topic}
	byName := map[string]tracetest.SpanStub{}
	for _, s := range exp.GetSpans() {
		byName[s.Name] = s
	}
	for child, par := range parent {
		cs, ok := byName[child]
		if !ok {
			t.Fatalf("no span %q", child)
		}
		if cs.SpanContext.TraceID() != root.SpanContext().TraceID() || cs.Parent.SpanID() != byName[par].SpanContext.SpanID() {
			t.Fatalf("span %q is not in the trace as a child of %q", child, par)
		}
	}
}
