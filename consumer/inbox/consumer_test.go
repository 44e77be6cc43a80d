package inbox_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ordo-go/ordo/consumer"
	"github.com/ordo-go/ordo/consumer/consumertest"
	"github.com/ordo-go/ordo/consumer/inbox"
	"github.com/ordo-go/ordo/producer"
	"github.com/ordo-go/ordo/schema"
)

type OrderPaid struct {
	OrderID string `avro:"order_id"`
	N       int64  `avro:"n"`
}

func (e OrderPaid) PartitionKey() string { return e.OrderID }

const paidAvsc = `{"type":"record","name":"OrderPaid","namespace":"ordo.test.inbox","fields":[
	{"name":"order_id","type":"string"},{"name":"n","type":"long"}]}`

// TestInboxInConsumer protects the inbox inside a running consumer: 400
// events over 20 keys, 80 of them written twice with the same event ID
// (as an outbox relay's duplicates are), every fifth event failing its
// first attempt. Each event's side effect is applied exactly once, in key
// order, the 80 copies are counted as duplicates, and retried attempts
// left nothing behind.
func TestInboxInConsumer(t *testing.T) {
	env := consumertest.Start(t, consumertest.Topic("orders", 4))
	codec, err := schema.NewCodec[OrderPaid](paidAvsc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := env.Producer(t)
	pub, err := producer.NewPublisher(ctx, p, "orders", codec)
	if err != nil {
		t.Fatal(err)
	}
	const n, keys, twice = 400, 20, 80
	for i := range n {
		s, err := pub.Seal(ctx, OrderPaid{OrderID: fmt.Sprintf("o-%d", i%keys), N: int64(i)})
		if err != nil {
			t.Fatal(err)
		}
		copies := 1
		if i%(n/twice) == 0 {
			copies = 2
		}
		for range copies {
			errc := make(chan error, 1)
			if err := p.PublishSealed(ctx, &s, func(_ producer.Result, err error) { errc <- err }); err != nil {
				t.Fatal(err)
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
		}
	}

	store := inbox.NewMemory()
	in, err := inbox.New(store, inbox.Scope("billing"))
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu      sync.Mutex
		applied = map[string][]int64{}
		count   int
	)
	h := inbox.Handle(in, func(_ context.Context, tx *inbox.MemTx, ev OrderPaid, m consumer.Meta) error {
		tx.OnCommit(func() {
			mu.Lock()
			defer mu.Unlock()
			applied[ev.OrderID] = append(applied[ev.OrderID], ev.N)
			count++
		})
		if ev.N%5 == 0 && m.Attempt == 1 {
			return fmt.Errorf("first attempt of %d fails", ev.N)
		}
		return nil
	})
	c, err := consumer.New(append(env.ConsumerOptions("billing", "orders"),
		consumer.On(codec, h), consumer.Retry(5, time.Millisecond, 10*time.Millisecond))...)
	if err != nil {
		t.Fatal(err)
	}
	env.Run(t, c)
	for {
		mu.Lock()
		done := count >= n && in.Duplicates() >= twice
		mu.Unlock()
		if done {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("applied %d of %d, duplicates %d of %d", count, n, in.Duplicates(), twice)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // anything more would be a second effect
	mu.Lock()
	defer mu.Unlock()
	if count != n || in.Duplicates() != twice {
		t.Fatalf("applied %d, duplicates %d; want %d, %d", count, in.Duplicates(), n, twice)
	}
	for k, ns := range applied {
		if !slices.IsSorted(ns) || len(ns) != n/keys {
			t.Fatalf("key %s: effects %v, want %d in order", k, ns, n/keys)
		}
	}
}
