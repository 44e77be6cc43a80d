package consumertest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ordo-go/ordo/consumer"
	"github.com/ordo-go/ordo/consumer/consumertest"
	"github.com/ordo-go/ordo/producer"
	"github.com/ordo-go/ordo/schema"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func publish(t *testing.T, env *consumertest.Env, topic string, n int) {
	t.Helper()
	ctx := context.Background()
	pub, err := producer.NewPublisher(ctx, env.Producer(t, producer.WithLogger(quiet)), topic, mustCodec(t))
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := pub.Publish(ctx, OrderPaid{OrderID: fmt.Sprintf("o-%d", i%4), Cents: int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
}

func mustCodec(t *testing.T) *schema.Codec[OrderPaid] {
	t.Helper()
	c, err := schema.NewCodec[OrderPaid](paidAvsc)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestKit protects the kit's contract: events published through Producer
// reach a consumer run by Run, the recorder counts only handled events (a
// failed attempt is not recorded, its retry is), and per key the order
// holds.
func TestKit(t *testing.T) {
	env := consumertest.Start(t, consumertest.Topic("orders", 3))
	env.CreateTopic(t, "orders", 3) // an existing topic is fine
	var failed atomic.Bool
	rec := consumertest.NewRecorder[OrderPaid]()
	c, err := consumer.New(append(env.ConsumerOptions("kit", "orders"),
		consumer.WithLogger(quiet), consumer.Retry(3, time.Millisecond, 5*time.Millisecond),
		consumer.On(mustCodec(t), rec.Wrap(func(_ context.Context, ev OrderPaid, _ consumer.Meta) error {
			if ev.Cents == 5 && failed.CompareAndSwap(false, true) {
				return errors.New("once")
			}
			return nil
		})))...)
	if err != nil {
		t.Fatal(err)
	}
	env.Run(t, c)
	publish(t, env, "orders", 20)
	got := rec.Wait(t, 20, 10*time.Second)
	if len(got) != 20 || !failed.Load() {
		t.Fatalf("recorded %d events (failure injected: %v), want 20", len(got), failed.Load())
	}
	seen := map[int64]int{}
	for _, ev := range got {
		seen[ev.Cents]++
	}
	for i := range int64(20) {
		if seen[i] != 1 {
			t.Fatalf("event %d recorded %d times, want once", i, seen[i])
		}
	}
	last := map[string]int64{}
	for _, ev := range got {
		if prev, ok := last[ev.OrderID]; ok && ev.Cents < prev {
			t.Fatalf("key %s: %d after %d", ev.OrderID, ev.Cents, prev)
		}
		last[ev.OrderID] = ev.Cents
	}
	if n := len(rec.Metas()); n != 20 {
		t.Fatalf("%d metas, want 20", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := rec.WaitFor(ctx, 21); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitFor past the end: %v, want DeadlineExceeded", err)
	}
}

// TestPersist protects Persist: a backlog published before a restart of
// the environment is consumed after it.
func TestPersist(t *testing.T) {
	dir := t.TempDir()
	env := consumertest.Start(t, consumertest.Persist(dir), consumertest.Brokers(1), consumertest.Topic("orders", 2))
	publish(t, env, "orders", 8)
	if err := env.Close(); err != nil {
		t.Fatal(err)
	}
	env = consumertest.Start(t, consumertest.Persist(dir), consumertest.Brokers(1), consumertest.Topic("orders", 2))
	rec := consumertest.NewRecorder[OrderPaid]()
	c, err := consumer.New(append(env.ConsumerOptions("persist", "orders"),
		consumer.WithLogger(quiet), consumer.On(mustCodec(t), rec.Wrap(nil)))...)
	if err != nil {
		t.Fatal(err)
	}
	env.Run(t, c)
	if got := rec.Wait(t, 8, 10*time.Second); len(got) != 8 {
		t.Fatalf("%d events after restart, want 8", len(got))
	}
}
