package consumertest_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"time"

	"github.com/ordo-go/ordo/consumer"
	"github.com/ordo-go/ordo/consumer/consumertest"
	"github.com/ordo-go/ordo/producer"
	"github.com/ordo-go/ordo/schema"
)

type OrderPaid struct {
	OrderID string `avro:"order_id"`
	Cents   int64  `avro:"cents"`
}

func (e OrderPaid) PartitionKey() string { return e.OrderID }

const paidAvsc = `{"type":"record","name":"OrderPaid","namespace":"shop","fields":[
	{"name":"order_id","type":"string"},{"name":"cents","type":"long"}]}`

// A service's test: publish events, run the consumer under test, and wait
// until its handler has seen them. In a test function, Start(t), Producer(t)
// and Run(t) do the setup and the cleanup.
func Example() {
	env, err := consumertest.New(consumertest.Topic("orders", 3))
	if err != nil {
		log.Fatal(err)
	}
	defer env.Close()
	ctx := context.Background()
	codec, err := schema.NewCodec[OrderPaid](paidAvsc)
	if err != nil {
		log.Fatal(err)
	}

	rec := consumertest.NewRecorder[OrderPaid]()
	c, err := consumer.New(append(env.ConsumerOptions("billing", "orders"),
		consumer.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		consumer.On(codec, rec.Wrap(nil)))...)
	if err != nil {
		log.Fatal(err)
	}
	go c.Run(ctx)
	defer c.Shutdown(ctx)

	p, err := producer.New(producer.Brokers(env.Brokers()...), producer.Registry(env.Registry()),
		producer.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	pub, err := producer.NewPublisher(ctx, p, "orders", codec)
	if err != nil {
		log.Fatal(err)
	}
	for i, cents := range []int64{250, 990, 120} {
		if _, err := pub.Publish(ctx, OrderPaid{OrderID: fmt.Sprintf("o-%d", i), Cents: cents}); err != nil {
			log.Fatal(err)
		}
	}

	wait, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	got, err := rec.WaitFor(wait, 3)
	if err != nil {
		log.Fatal(err)
	}
	var total int64
	for _, ev := range got {
		total += ev.Cents
	}
	fmt.Println("handled", len(got), "events, total cents", total)
	// Output: handled 3 events, total cents 1360
}
