// Command taste is the README's "A taste": a service that publishes an
// order's payment and bills it, against a Kafka broker on 127.0.0.1:9092
// and a schema registry on 127.0.0.1:8081. TestReadmeTaste keeps the
// README's copy equal to this file.
package main

import (
	"context"
	"log"
	"os/signal"
	"syscall"

	"github.com/ordo-go/ordo/consumer"
	"github.com/ordo-go/ordo/producer"
	"github.com/ordo-go/ordo/schema"
)

type OrderPaid struct {
	OrderID string `avro:"order_id"`
	Cents   int64  `avro:"cents"`
}

// PartitionKey keeps all events of one order on one partition, in order.
func (e OrderPaid) PartitionKey() string { return e.OrderID }

const paidAvsc = `{"type": "record", "name": "OrderPaid", "namespace": "shop",
	"fields": [{"name": "order_id", "type": "string"}, {"name": "cents", "type": "long"}]}`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	codec, err := schema.NewCodec[OrderPaid](paidAvsc) // refuses a type that can't cross the wire
	check(err)
	reg, err := schema.NewRegistry([]string{"http://127.0.0.1:8081"})
	check(err)

	p, err := producer.New(producer.Brokers("127.0.0.1:9092"), producer.Registry(reg))
	check(err)
	defer p.Close()
	pub, err := producer.NewPublisher(ctx, p, "orders", codec) // registers, compatibility-gated
	check(err)
	res, err := pub.Publish(ctx, OrderPaid{OrderID: "o-1", Cents: 250},
		producer.Header("correlation-id", "req-7f3a")) // no linger: one round trip
	check(err)
	log.Printf("published to partition %d at offset %d", res.Partition, res.Offset)

	c, err := consumer.New(
		consumer.Brokers("127.0.0.1:9092"), consumer.Group("billing"),
		consumer.Topics("orders"), consumer.Registry(reg), consumer.Concurrency(64),
		consumer.On(codec, func(ctx context.Context, ev OrderPaid, m consumer.Meta) error {
			return charge(ctx, ev)
		}),
	)
	check(err)
	check(c.Run(ctx)) // until Shutdown(ctx), Close() or ctx is cancelled (Ctrl-C)
}

func charge(_ context.Context, ev OrderPaid) error {
	log.Printf("charging %d cents for order %s", ev.Cents, ev.OrderID)
	return nil
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
