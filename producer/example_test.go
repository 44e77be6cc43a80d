package producer_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sync"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/ordo-go/ordo/consumer/consumertest"
	"github.com/ordo-go/ordo/partition"
	"github.com/ordo-go/ordo/producer"
	"github.com/ordo-go/ordo/schema"
)

// OrderCreated is an event published in order per order ID.
type OrderCreated struct {
	OrderID string `avro:"order_id"`
	Amount  int64  `avro:"amount"`
}

// PartitionKey keeps each order's events on one partition, in order.
func (e OrderCreated) PartitionKey() string { return e.OrderID }

const orderCreatedAvsc = `{"type": "record", "name": "OrderCreated", "namespace": "example.orders",
	"fields": [{"name": "order_id", "type": "string"}, {"name": "amount", "type": "long"}]}`

func Example() {
	cluster, err := consumertest.New(consumertest.Topic("orders", 6))
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()
	reg, err := schema.NewRegistry([]string{cluster.RegistryURL()})
	if err != nil {
		log.Fatal(err)
	}
	p, err := producer.New(producer.Brokers(cluster.Brokers()...), producer.Registry(reg))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	defer func() {
		if err := p.Shutdown(ctx); err != nil {
			log.Print(err)
		}
	}()

	codec, err := schema.NewCodec[OrderCreated](orderCreatedAvsc)
	if err != nil {
		log.Fatal(err)
	}
	pub, err := producer.NewPublisher(ctx, p, "orders", codec)
	if err != nil {
		log.Fatal(err)
	}
	for _, ev := range []OrderCreated{{"o-1", 10}, {"o-2", 20}, {"o-1", 30}} {
		res, err := pub.Publish(ctx, ev)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: partition %d offset %d seq %d\n", ev.OrderID, res.Partition, res.Offset, res.Seq)
	}
	// Output:
	// o-1: partition 0 offset 0 seq 1
	// o-2: partition 3 offset 0 seq 1
	// o-1: partition 0 offset 1 seq 2
}

// OrderPaid follows OrderCreated on the same key and topic.
type OrderPaid struct {
	OrderID string `avro:"order_id"`
}

// PartitionKey is the order ID, as for OrderCreated.
func (e OrderPaid) PartitionKey() string { return e.OrderID }

const orderPaidAvsc = `{"type": "record", "name": "OrderPaid", "namespace": "example.orders",
	"fields": [{"name": "order_id", "type": "string"}]}`

// start runs an embedded cluster and a producer with opts for the examples.
func start(opts ...producer.Option) (*producer.Producer, func(), error) {
	cluster, err := consumertest.New(consumertest.Topic("orders", 6))
	if err != nil {
		return nil, nil, err
	}
	reg, err := schema.NewRegistry([]string{cluster.RegistryURL()})
	if err != nil {
		cluster.Close()
		return nil, nil, err
	}
	p, err := producer.New(append([]producer.Option{
		producer.Brokers(cluster.Brokers()...), producer.Registry(reg),
	}, opts...)...)
	if err != nil {
		cluster.Close()
		return nil, nil, err
	}
	return p, func() { p.Close(); cluster.Close() }, nil
}

// Several event types of one order share its key and topic, and one
// sequence, under the RecordName subject strategy.
func Example_severalTypes() {
	p, stop, err := start(producer.Subjects(schema.RecordName))
	if err != nil {
		log.Fatal(err)
	}
	defer stop()
	ctx := context.Background()
	createdCodec, err := schema.NewCodec[OrderCreated](orderCreatedAvsc)
	if err != nil {
		log.Fatal(err)
	}
	paidCodec, err := schema.NewCodec[OrderPaid](orderPaidAvsc)
	if err != nil {
		log.Fatal(err)
	}
	created, err := producer.NewPublisher(ctx, p, "orders", createdCodec)
	if err != nil {
		log.Fatal(err)
	}
	paid, err := producer.NewPublisher(ctx, p, "orders", paidCodec)
	if err != nil {
		log.Fatal(err)
	}
	r1, err := created.Publish(ctx, OrderCreated{"o-7", 99})
	if err != nil {
		log.Fatal(err)
	}
	r2, err := paid.Publish(ctx, OrderPaid{"o-7"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("created:", r1.Partition, r1.Seq)
	fmt.Println("paid:", r2.Partition, r2.Seq)
	// Output:
	// created: 2 1
	// paid: 2 2
}

// PublishAsync returns once the producer holds the event; the callback
// reports the outcome.
func ExamplePublisher_PublishAsync() {
	p, stop, err := start()
	if err != nil {
		log.Fatal(err)
	}
	defer stop()
	ctx := context.Background()
	codec, err := schema.NewCodec[OrderCreated](orderCreatedAvsc)
	if err != nil {
		log.Fatal(err)
	}
	pub, err := producer.NewPublisher(ctx, p, "orders", codec)
	if err != nil {
		log.Fatal(err)
	}
	var wg sync.WaitGroup
	seqs := make([]uint64, 3)
	for i := range seqs {
		wg.Add(1)
		err := pub.PublishAsync(ctx, OrderCreated{"o-1", int64(i)}, func(res producer.Result, err error) {
			defer wg.Done()
			if err != nil {
				log.Print(err)
				return
			}
			seqs[i] = res.Seq
		})
		if err != nil {
			log.Fatal(err)
		}
	}
	wg.Wait()
	fmt.Println(seqs)
	// Output:
	// [1 2 3]
}

// An event with an empty key is refused before anything is sent.
func ExamplePublisher_Publish_noKey() {
	p, stop, err := start()
	if err != nil {
		log.Fatal(err)
	}
	defer stop()
	ctx := context.Background()
	codec, err := schema.NewCodec[OrderCreated](orderCreatedAvsc)
	if err != nil {
		log.Fatal(err)
	}
	pub, err := producer.NewPublisher(ctx, p, "orders", codec)
	if err != nil {
		log.Fatal(err)
	}
	_, err = pub.Publish(ctx, OrderCreated{Amount: 5})
	fmt.Println(errors.Is(err, partition.ErrNoKey))
	fmt.Println(err)
	// Output:
	// true
	// producer: publish example.orders.OrderCreated to "orders": partition: event has an empty partition key
}

// Each publish is a span, a child of the caller's, and the record carries
// it in a W3C traceparent header for the consumer to continue. The tracer
// provider is the program's OpenTelemetry SDK, set up as usual:
//
//	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter))
//	defer tp.Shutdown(ctx)
//	p, err := producer.New(producer.Brokers(brokers...), producer.Registry(reg),
//		producer.WithTracerProvider(tp), producer.WithPropagator(propagation.TraceContext{}))
//
// Each publish then ends a "send <topic>" span of kind producer, with the
// messaging attributes (system, destination, partition, offset, key, event
// ID and type). Without these options the producer uses OpenTelemetry's
// global provider and propagator, whenever the program installs them.
//
// This example runs without an SDK, as ordo's module does not depend on
// one: the global provider starts no span, and the record carries the
// caller's trace context as it came in, so the trace still reaches the
// consumer. (The same example with the SDK runs in ordo's internal/otelbench.)
func ExampleWithTracerProvider() {
	cluster, err := consumertest.New(consumertest.Topic("orders", 1))
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()
	reg, err := schema.NewRegistry([]string{cluster.RegistryURL()})
	if err != nil {
		log.Fatal(err)
	}
	tp := otel.GetTracerProvider() // the program's SDK provider, if it installed one
	p, err := producer.New(producer.Brokers(cluster.Brokers()...), producer.Registry(reg),
		producer.WithTracerProvider(tp), producer.WithPropagator(propagation.TraceContext{}))
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	codec, err := schema.NewCodec[OrderCreated](orderCreatedAvsc)
	if err != nil {
		log.Fatal(err)
	}

	// The trace context of an incoming request, as an HTTP middleware
	// extracts it.
	incoming := propagation.MapCarrier{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
	ctx := propagation.TraceContext{}.Extract(context.Background(), incoming)
	pub, err := producer.NewPublisher(ctx, p, "orders", codec)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := pub.Publish(ctx, OrderCreated{"o-1", 10}); err != nil {
		log.Fatal(err)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.Brokers()...), kgo.ConsumeTopics("orders"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Close()
	fs := cl.PollFetches(context.Background())
	if err := fs.Err(); err != nil {
		log.Fatal(err)
	}
	fs.EachRecord(func(r *kgo.Record) {
		for _, h := range r.Headers {
			if h.Key == "traceparent" {
				fmt.Printf("%s %s: %s\n", r.Key, h.Key, h.Value)
			}
		}
	})
	// Output:
	// o-1 traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
}

// A topic's partition count is stamped into its records, so a producer
// started after partitions were added refuses keyed events until the new
// count is accepted, just as one that saw the change while running.
func ExampleProducer_AcceptPartitionCount() {
	cluster, err := consumertest.New(consumertest.Topic("orders", 3))
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()
	reg, err := schema.NewRegistry([]string{cluster.RegistryURL()})
	if err != nil {
		log.Fatal(err)
	}
	codec, err := schema.NewCodec[OrderCreated](orderCreatedAvsc)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	publish := func(p *producer.Producer, id string) error {
		pub, err := producer.NewPublisher(ctx, p, "orders", codec)
		if err != nil {
			return err
		}
		_, err = pub.Publish(ctx, OrderCreated{OrderID: id, Amount: 1})
		return err
	}
	newProducer := func() *producer.Producer {
		p, err := producer.New(producer.Brokers(cluster.Brokers()...), producer.Registry(reg))
		if err != nil {
			log.Fatal(err)
		}
		return p
	}

	before := newProducer()
	fmt.Println("before:", publish(before, "order-1"))
	before.Close()

	// An operator adds three partitions while no producer runs.
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.Brokers()...))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := kadm.NewClient(cl).CreatePartitions(ctx, 3, "orders"); err != nil {
		log.Fatal(err)
	}
	cl.Close()

	after := newProducer()
	defer after.Close()
	err = publish(after, "order-1")
	var changed *partition.CountChangedError
	if errors.As(err, &changed) {
		fmt.Println("after:", changed.Was, "->", changed.Now)
		after.AcceptPartitionCount(changed.Topic, changed.Now)
	}
	fmt.Println("accepted:", publish(after, "order-1"))
	// Output:
	// before: <nil>
	// after: 3 -> 6
	// accepted: <nil>
}
