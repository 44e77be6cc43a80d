//go:build integration

package e2e

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/consumer"
	"github.com/ordo-go/ordo/consumer/dlq"
	"github.com/ordo-go/ordo/internal/kafkatest"
	"github.com/ordo-go/ordo/producer"
)

// TestDeadLetterRealKafka (real Kafka): a refused event and a poison
// record are dead-lettered with the key's later events behind them, other
// keys flow; the quarantine is committed with the offsets and a restarted
// consumer keeps it; after the cause is fixed, a redrive handles the
// refused key's chain in order and lifts its quarantine.
func TestDeadLetterRealKafka(t *testing.T) {
	ctx := kafkatest.Bound(t, 5*time.Minute)
	e := newEnv(ctx, t, kafkatest.StartBroker(ctx, t), 3, 1)
	dlt := e.topic + ".dlt"
	if _, err := e.cluster.Admin(t).CreateTopic(ctx, 3, 1, nil, dlt); err != nil {
		t.Fatal(err)
	}
	codec := e.codec("Step")
	pub, err := producer.NewPublisher(ctx, e.producer(), e.topic, codec)
	if err != nil {
		t.Fatal(err)
	}
	publish := func(evs ...Step) {
		if _, err := pub.PublishAll(ctx, evs...); err != nil {
			t.Fatal(err)
		}
	}
	publish(Step{Key: "a", Seq: 1}, Step{Key: "a", Seq: 2}, Step{Key: "b", Seq: 1})
	poison := &kgo.Record{Topic: e.topic, Key: []byte("c"), Value: []byte("not avro")}
	// The poison must land where c's events do: the producer's partitioner
	// is murmur2, as kgo's default for keyed records.
	if err := e.cluster.Client(t).ProduceSync(ctx, poison).FirstErr(); err != nil {
		t.Fatal(err)
	}
	publish(Step{Key: "a", Seq: 3}, Step{Key: "c", Seq: 1}, Step{Key: "b", Seq: 2})

	var broken atomic.Bool
	broken.Store(true)
	b := newBook()
	inner := b.handle(0)
	h := func(ctx context.Context, s Step, m consumer.Meta) error {
		if broken.Load() && s.Key == "a" && s.Seq == 2 {
			return consumer.Permanent(errors.New("refused"))
		}
		return inner(ctx, s, m)
	}
	c := e.consumer("dl", consumer.On(codec, h), consumer.DeadLetterTopic(dlt))
	stop := run(t, c)
	waitFor(t, time.Minute, "a2, a3, poison, c1 dead-lettered", func() bool { return c.Stats().DeadLettered == 4 })
	waitFor(t, time.Minute, "a1, b1, b2 handled", func() bool { d, _ := b.count(); return d == 3 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	publish(Step{Key: "a", Seq: 4})
	c = e.consumer("dl", consumer.On(codec, h), consumer.DeadLetterTopic(dlt))
	stop = run(t, c)
	waitFor(t, time.Minute, "a4 quarantined after the restart", func() bool { return c.Stats().DeadLettered == 1 })

	broken.Store(false)
	d, err := dlq.New(dlq.Brokers(e.cluster.Brokers()...), dlq.Registry(e.reg))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	rep, err := d.Redrive(ctx, dlq.RedriveConfig{Topic: dlt, Group: "ops", Filter: dlq.Filter{Keys: [][]byte{[]byte("a")}}})
	if err != nil || rep.Redriven != 3 || rep.Lifted != 1 {
		t.Fatalf("redrive: %+v, %v", rep, err)
	}
	waitFor(t, time.Minute, "a2..a4 handled", func() bool { d, _ := b.count(); return d == 6 })
	publish(Step{Key: "a", Seq: 5})
	waitFor(t, time.Minute, "a5 handled: the quarantine is lifted", func() bool { d, _ := b.count(); return d == 7 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if got := fmt.Sprint(b.seqs["a"]); got != "[1 2 3 4 5]" {
		t.Fatalf("a handled %s, want [1 2 3 4 5]", got)
	}
	if len(b.problems) > 0 {
		t.Fatal(b.problems)
	}
}
