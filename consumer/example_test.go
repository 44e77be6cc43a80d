package consumer_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/ordo-go/ordo/consumer"
	"github.com/ordo-go/ordo/consumer/consumertest"
	"github.com/ordo-go/ordo/producer"
	"github.com/ordo-go/ordo/schema"
)

// OrderPaid is an event keyed by its order.
type OrderPaid struct {
	OrderID string `avro:"order_id"`
	Cents   int64  `avro:"cents"`
}

// PartitionKey keeps an order's events in order.
func (e OrderPaid) PartitionKey() string { return e.OrderID }

const orderPaidAvsc = `{"type": "record", "name": "OrderPaid", "namespace": "example.orders",
	"fields": [{"name": "order_id", "type": "string"}, {"name": "cents", "type": "long"}]}`

func Example() {
	ctx := context.Background()
	// An embedded cluster and registry; a service uses its own.
	cluster, err := consumertest.New(consumertest.Brokers(1), consumertest.Topic("orders", 3))
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()
	reg := cluster.Registry()
	codec, err := schema.NewCodec[OrderPaid](orderPaidAvsc)
	if err != nil {
		log.Fatal(err)
	}

	// Publish three payments of one order.
	p, err := producer.New(producer.Brokers(cluster.Brokers()...), producer.Registry(reg))
	if err != nil {
		log.Fatal(err)
	}
	pub, err := producer.NewPublisher(ctx, p, "orders", codec)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := pub.PublishAll(ctx, OrderPaid{"o-1", 100}, OrderPaid{"o-1", 250}, OrderPaid{"o-1", 75}); err != nil {
		log.Fatal(err)
	}
	if err := p.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}

	// Consume them: one key, so one at a time and in order.
	seen := make(chan struct{}, 3)
	c, err := consumer.New(
		consumer.Brokers(cluster.Brokers()...),
		consumer.Group("billing"),
		consumer.Topics("orders"),
		consumer.Registry(reg),
		consumer.Concurrency(8),
		consumer.On(codec, func(ctx context.Context, ev OrderPaid, m consumer.Meta) error {
			fmt.Printf("%s paid %d (%s seq %d)\n", ev.OrderID, ev.Cents, m.Type, m.Seq)
			seen <- struct{}{}
			return nil
		}),
	)
	if err != nil {
		log.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	for i := 0; i < 3; i++ {
		<-seen
	}
	if err := c.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	if err := <-done; err != nil {
		log.Fatal(err)
	}
	// Output:
	// o-1 paid 100 (example.orders.OrderPaid seq 1)
	// o-1 paid 250 (example.orders.OrderPaid seq 2)
	// o-1 paid 75 (example.orders.OrderPaid seq 3)
}

// Middleware wraps every handler: here it puts the tenant of the record's
// header into ctx, as a database transaction or a timeout would be.
func ExampleUse() {
	type tenantKey struct{}
	tenant := consumer.Use(func(ctx context.Context, m consumer.Meta, next func(context.Context) error) error {
		for _, h := range m.Headers {
			if h.Key == "tenant" {
				ctx = context.WithValue(ctx, tenantKey{}, string(h.Value))
			}
		}
		return next(ctx)
	})
	_ = tenant // pass it to consumer.New with the other options
	fmt.Println("ok")
	// Output: ok
}

// Ready serves a health endpoint: not ready until the consumer is in its
// group, or while a partition is stuck or more than a minute behind.
func ExampleConsumer_Ready() {
	var c *consumer.Consumer // from consumer.New, running
	health := func(w http.ResponseWriter, _ *http.Request) {
		if err := c.Ready(time.Minute); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	}
	_ = health // http.HandleFunc("/ready", health)
}
