// Command taste is the README's "A taste": a service that publishes an
// order's payment and bills it. It takes the broker and the registry from
// ORDO_BROKERS and ORDO_REGISTRY (as `bash .ci/devcluster.sh start` prints
// them), else 127.0.0.1:9092 and http://127.0.0.1:8081. TestReadmeTaste
// keeps the README's copy equal to this file.
package main

import (
	"context"
	"errors"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

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
	brokers := strings.Split(env("ORDO_BROKERS", "127.0.0.1:9092"), ",")

	codec, err := schema.NewCodec[OrderPaid](paidAvsc) // refuses a type that can't cross the wire
	check(err)
	reg, err := schema.NewRegistry([]string{env("ORDO_REGISTRY", "http://127.0.0.1:8081")})
	check(err)
	check(createTopic(ctx, brokers, "orders")) // Kafka does not create it on first use

	p, err := producer.New(producer.Brokers(brokers...), producer.Registry(reg))
	check(err)
	defer p.Close()
	pub, err := producer.NewPublisher(ctx, p, "orders", codec) // registers, compatibility-gated
	check(err)
	res, err := pub.Publish(ctx, OrderPaid{OrderID: "o-1", Cents: 250},
		producer.Header("correlation-id", "req-7f3a")) // no linger: one round trip
	check(err)
	log.Printf("published to partition %d at offset %d", res.Partition, res.Offset)

	c, err := consumer.New(
		consumer.Brokers(brokers...), consumer.Group("billing"),
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

// createTopic creates topic, with the broker's default partitions and
// replication, unless it exists.
func createTopic(ctx context.Context, brokers []string, topic string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	_, err = kadm.NewClient(cl).CreateTopic(ctx, -1, -1, nil, topic)
	if errors.Is(err, kerr.TopicAlreadyExists) {
		return nil
	}
	return err
}

func env(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
