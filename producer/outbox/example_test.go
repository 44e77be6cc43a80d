package outbox_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/consumer/consumertest"
	"github.com/ordo-go/ordo/producer"
	"github.com/ordo-go/ordo/producer/outbox"
	"github.com/ordo-go/ordo/schema"
)

// An order's event is committed in the same transaction as the order, and
// a relay publishes it; the event of a transaction that rolled back never
// leaves the outbox. A service uses its database's store (pgoutbox) where
// this uses the memory one.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cluster, err := consumertest.New(consumertest.Brokers(1), consumertest.Topic("orders", 3))
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()
	p, err := producer.New(producer.Brokers(cluster.Brokers()...), producer.Registry(cluster.Registry()))
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	codec, err := schema.NewCodec[OrderPlaced](placedAvsc)
	if err != nil {
		log.Fatal(err)
	}
	pub, err := producer.NewPublisher(ctx, p, "orders", codec)
	if err != nil {
		log.Fatal(err)
	}
	store := outbox.NewMemory()
	w, err := outbox.NewWriter[*outbox.MemTx](pub, store)
	if err != nil {
		log.Fatal(err)
	}

	for i, commit := range []bool{true, false, true} {
		tx := store.Begin()
		// ... the order's own rows, in tx ...
		if _, err := w.Add(ctx, tx, OrderPlaced{OrderID: "o-1", N: int64(i)}); err != nil {
			log.Fatal(err)
		}
		if commit {
			err = tx.Commit()
		} else {
			tx.Rollback()
		}
		if err != nil {
			log.Fatal(err)
		}
	}

	relay, err := outbox.NewRelay(p, store)
	if err != nil {
		log.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- relay.Run(rctx) }()
	for store.Len() > 0 && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		log.Fatal(err)
	}
	fmt.Println("published:", relay.Stats().Published)

	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.Brokers()...), kgo.ConsumeTopics("orders"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Close()
	for n := 0; n < 2; {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			var ev OrderPlaced
			_, body, err := schema.Unframe(r.Value)
			if err == nil {
				err = codec.Decode(body, &ev)
			}
			if err != nil {
				log.Fatal(err)
			}
			fmt.Printf("%s %d\n", r.Key, ev.N)
			n++
		})
	}
	// Output:
	// published: 2
	// o-1 0
	// o-1 2
}
