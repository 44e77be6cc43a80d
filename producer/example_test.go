package producer_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sync"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/ordo-go/ordo/internal/embedded"
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
	cluster, err := embedded.Start(embedded.Config{Brokers: 1, Topics: map[string]int32{"orders": 6}})
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
	cluster, err := embedded.Start(embedded.Config{Brokers: 1, Topics: map[string]int32{"orders": 6}})
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
// it in a W3C traceparent header for the consumer to continue. Here an
// OpenTelemetry SDK with an in-memory exporter stands in for a real one.
func ExampleWithTracerProvider() {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer func() {
		if err := tp.Shutdown(context.Background()); err != nil {
			log.Print(err)
		}
	}()
	p, stop, err := start(producer.WithTracerProvider(tp), producer.WithPropagator(propagation.TraceContext{}))
	if err != nil {
		log.Fatal(err)
	}
	defer stop()
	ctx, parent := tp.Tracer("checkout").Start(context.Background(), "checkout")
	codec, err := schema.NewCodec[OrderCreated](orderCreatedAvsc)
	if err != nil {
		log.Fatal(err)
	}
	pub, err := producer.NewPublisher(ctx, p, "orders", codec)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := pub.Publish(ctx, OrderCreated{"o-1", 10}); err != nil {
		log.Fatal(err)
	}
	parent.End()

	for _, s := range exp.GetSpans() {
		if s.Name != "send orders" {
			continue
		}
		fmt.Println(s.Name, s.SpanKind, "child of checkout:", s.Parent.SpanID() == parent.SpanContext().SpanID())
		for _, a := range s.Attributes {
			switch a.Key {
			case "messaging.system", "messaging.destination.name", "messaging.operation.type",
				"messaging.destination.partition.id", "messaging.kafka.message.key":
				fmt.Printf("  %s=%s\n", a.Key, a.Value.String())
			}
		}
	}
	// Output:
	// send orders producer child of checkout: true
	//   messaging.system=kafka
	//   messaging.destination.name=orders
	//   messaging.operation.type=send
	//   messaging.destination.partition.id=0
	//   messaging.kafka.message.key=o-1
}

// A topic's partition count is stamped into its records, so a producer
// started after partitions were added refuses keyed events until the new
// count is accepted, just as one that saw the change while running.
func ExampleProducer_AcceptPartitionCount() {
	cluster, err := embedded.Start(embedded.Config{Brokers: 1, Topics: map[string]int32{"orders": 3}})
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
