package dlq_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/consumer/consumertest"
	"github.com/ordo-go/ordo/consumer/dlq"
)

// A dead letter carries Spring Kafka's headers and ordo's; Parse reads
// them back.
func ExampleBuild() {
	orig := &kgo.Record{Topic: "orders", Partition: 2, Offset: 41, Key: []byte("order-7"), Value: []byte("...")}
	d := dlq.Build("orders.dlt", orig, dlq.Failure{
		Reason: dlq.HandlerExhausted, Stage: dlq.StageHandle, Attempts: 5,
		Err: errors.New("payment service unavailable"), Group: "billing",
	})
	info, err := dlq.Parse(d)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s[%d]@%d %s after %d attempts: %s\n", info.Topic, info.Partition, info.Offset, info.Reason, info.Attempts, info.Message)
	// Output: orders[2]@41 handler-exhausted after 5 attempts: payment service unavailable
}

// Redrive republishes dead letters to their original topic, in order,
// resuming through a group.
func ExampleClient_Redrive() {
	// An embedded cluster; an operator points the client at theirs.
	cluster, err := consumertest.New(consumertest.Brokers(1),
		consumertest.Topic("orders", 3), consumertest.Topic("orders.dlt", 3))
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	kcl, err := kgo.NewClient(kgo.SeedBrokers(cluster.Brokers()...))
	if err != nil {
		log.Fatal(err)
	}
	defer kcl.Close()
	for i := range int64(3) {
		orig := &kgo.Record{Topic: "orders", Offset: 10 + i, Key: []byte("order-7"), Value: []byte{byte(i)}}
		f := dlq.Failure{Reason: dlq.Permanent, Err: errors.New("refused")}
		if i > 0 {
			f = dlq.Failure{Reason: dlq.Quarantined, QuarantineOffset: 10}
		}
		if err := kcl.ProduceSync(ctx, dlq.Build("orders.dlt", orig, f)).FirstErr(); err != nil {
			log.Fatal(err)
		}
	}

	c, err := dlq.New(dlq.Brokers(cluster.Brokers()...))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	sum, err := c.List(ctx, "orders.dlt")
	if err != nil {
		log.Fatal(err)
	}
	for _, g := range sum.Groups {
		fmt.Println(g.Topic, g.Reason, g.Records)
	}
	rep, err := c.Redrive(ctx, dlq.RedriveConfig{Topic: "orders.dlt", Group: "redrive-2026-11"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("redriven %d, chains lifted %d\n", rep.Redriven, rep.Lifted)
	// Output:
	// orders permanent 1
	// orders quarantined 2
	// redriven 3, chains lifted 1
}
