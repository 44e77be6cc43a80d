package consumer_test

import (
	"context"
	"fmt"
	"log"

	"github.com/ordo-go/ordo/consumer"
	"github.com/ordo-go/ordo/internal/embedded"
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
	cluster, err := embedded.Start(embedded.Config{Brokers: 1, Topics: map[string]int32{"orders": 3}})
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()
	reg, err := schema.NewRegistry([]string{cluster.RegistryURL()})
	if err != nil {
		log.Fatal(err)
	}
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
