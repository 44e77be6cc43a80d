package producer_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/consumer/consumertest"
	"github.com/ordo-go/ordo/producer"
	"github.com/ordo-go/ordo/schema"
)

// A request-path service passes its correlation ID and tenant on with the
// event, and dates the event when it happened. ordo's own headers cannot
// be overwritten by accident.
func ExampleHeader() {
	env, err := consumertest.New(consumertest.Topic("orders", 1))
	if err != nil {
		log.Fatal(err)
	}
	defer env.Close()
	p, err := producer.New(producer.Brokers(env.Brokers()...), producer.Registry(env.Registry()))
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	codec, err := schema.NewCodec[OrderCreated](orderCreatedAvsc)
	if err != nil {
		log.Fatal(err)
	}
	pub, err := producer.NewPublisher(ctx, p, "orders", codec)
	if err != nil {
		log.Fatal(err)
	}

	happened := time.Now().Add(-time.Second).Truncate(time.Millisecond)
	if _, err := pub.Publish(ctx, OrderCreated{"o-1", 10},
		producer.Header("correlation-id", "req-7f3a"),
		producer.Header("tenant", "acme"),
		producer.Timestamp(happened),
	); err != nil {
		log.Fatal(err)
	}
	_, err = pub.Publish(ctx, OrderCreated{"o-1", 20}, producer.Header("ordo-seq", "1"))
	fmt.Println("ordo-seq refused:", errors.Is(err, producer.ErrReservedHeader))

	r := firstRecord(ctx, env.Brokers(), "orders")
	for _, h := range r.Headers {
		if h.Key == "correlation-id" || h.Key == "tenant" {
			fmt.Printf("%s=%s\n", h.Key, h.Value)
		}
	}
	fmt.Println("timestamp kept:", r.Timestamp.Equal(happened))
	// Output:
	// ordo-seq refused: true
	// correlation-id=req-7f3a
	// tenant=acme
	// timestamp kept: true
}

// PublishBatch gives each event of a batch its own headers.
func ExamplePublisher_PublishBatch() {
	env, err := consumertest.New(consumertest.Topic("orders", 1))
	if err != nil {
		log.Fatal(err)
	}
	defer env.Close()
	p, err := producer.New(producer.Brokers(env.Brokers()...), producer.Registry(env.Registry()))
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	codec, err := schema.NewCodec[OrderCreated](orderCreatedAvsc)
	if err != nil {
		log.Fatal(err)
	}
	pub, err := producer.NewPublisher(ctx, p, "orders", codec)
	if err != nil {
		log.Fatal(err)
	}
	res, err := pub.PublishBatch(ctx, []producer.Message[OrderCreated]{
		{Event: OrderCreated{"o-1", 10}, Options: []producer.PublishOption{producer.Header("tenant", "acme")}},
		{Event: OrderCreated{"o-2", 20}, Options: []producer.PublishOption{producer.Header("tenant", "globex")}},
		{Event: OrderCreated{"o-1", 30}}, // no options
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range res {
		fmt.Printf("offset %d seq %d\n", r.Offset, r.Seq)
	}
	// Output:
	// offset 0 seq 1
	// offset 1 seq 1
	// offset 2 seq 2
}

// firstRecord reads the first record of topic.
func firstRecord(ctx context.Context, brokers []string, topic string) *kgo.Record {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic))
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			log.Fatal(err)
		}
		if recs := fs.Records(); len(recs) > 0 {
			return recs[0]
		}
	}
}
