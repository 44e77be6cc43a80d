package producer

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ordo-go/ordo/internal/header"
	"github.com/ordo-go/ordo/partition"
	"github.com/ordo-go/ordo/schema"
)

// TestRoundTrip protects the wire contract: each event lands on the
// partition its key maps to (murmur2, as partition.For), in the Confluent
// frame with the registry's ID, with the four ordo headers, sequences
// 1, 2, 3, ... per key and unique UUIDv7 IDs.
func TestRoundTrip(t *testing.T) {
	const topic, parts = "orders", 6
	e := startEnv(t, map[string]int32{topic: parts})
	p := e.producer(t, Name("svc-a/1"))
	ctx := context.Background()
	cc := codec[Created](t, createdAvsc)
	pub, err := NewPublisher(ctx, p, topic, cc)
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{"order-1", "order-2", "order-3", "order-42", "order-x"}
	const perKey = 4
	for i := range perKey {
		for _, k := range keys {
			res, err := pub.Publish(ctx, Created{OrderID: k, Amount: int64(i)})
			if err != nil {
				t.Fatalf("Publish %s #%d: %v", k, i, err)
			}
			if res.Seq != uint64(i+1) || res.Topic != topic || res.Partition != int32(partition.For([]byte(k), parts)) {
				t.Fatalf("Publish %s #%d: result %+v", k, i, res)
			}
		}
	}

	recs := e.readAll(t, topic, len(keys)*perKey)
	ids := map[string]bool{}
	lastSeq := map[string]uint64{}
	for _, r := range recs {
		k := string(r.Key)
		if want := int32(partition.For(r.Key, parts)); r.Partition != want {
			t.Errorf("key %s on partition %d, want %d", k, r.Partition, want)
		}
		id, body, err := schema.Unframe(r.Value)
		if err != nil || id != pub.SchemaID() {
			t.Fatalf("frame: id %d (want %d), err %v", id, pub.SchemaID(), err)
		}
		var got Created
		if err := cc.Decode(body, &got); err != nil || got.OrderID != k {
			t.Fatalf("decode: %+v, %v", got, err)
		}
		if v, _ := header.Get(r.Headers, header.Type); v != "ordo.test.orders.Created" {
			t.Errorf("ordo-type %q", v)
		}
		if v, _ := header.Get(r.Headers, header.Producer); v != "svc-a/1" {
			t.Errorf("ordo-producer %q", v)
		}
		v, _ := header.Get(r.Headers, header.ID)
		u, err := uuid.Parse(v)
		if err != nil || u.Version() != 7 || ids[v] {
			t.Errorf("ordo-id %q: version %d, dup %v, err %v", v, u.Version(), ids[v], err)
		}
		ids[v] = true
		s, _ := header.Get(r.Headers, header.Seq)
		seq, err := strconv.ParseUint(s, 10, 64)
		if err != nil || seq != lastSeq[k]+1 || uint64(got.Amount)+1 != seq {
			t.Errorf("key %s: ordo-seq %q after %d (amount %d)", k, s, lastSeq[k], got.Amount)
		}
		lastSeq[k] = seq
	}
}

// TestPublishAsyncDoneOnce protects the async contract: every accepted
// event's done runs exactly once, with its own result.
func TestPublishAsyncDoneOnce(t *testing.T) {
	e := startEnv(t, map[string]int32{"orders": 3})
	p := e.producer(t, MaxBufferedRecords(8))
	ctx := context.Background()
	pub, err := NewPublisher(ctx, p, "orders", codec[Created](t, createdAvsc))
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	calls := make([]atomic.Int32, n)
	var wg sync.WaitGroup
	wg.Add(n)
	for i := range n {
		err := pub.PublishAsync(ctx, Created{OrderID: fmt.Sprint("k", i%7), Amount: int64(i)}, func(r Result, err error) {
			if err != nil || r.Offset < 0 {
				t.Errorf("event %d: %+v, %v", i, r, err)
			}
			calls[i].Add(1)
			wg.Done()
		})
		if err != nil {
			t.Fatalf("PublishAsync %d: %v", i, err)
		}
	}
	wg.Wait()
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range calls {
		if c := calls[i].Load(); c != 1 {
			t.Errorf("event %d: done called %d times", i, c)
		}
	}
}

// TestPublishAll protects the batch contract: results in input order, and
// a bad event refuses the whole batch, naming its index.
func TestPublishAll(t *testing.T) {
	e := startEnv(t, map[string]int32{"orders": 3})
	p := e.producer(t)
	ctx := context.Background()
	pub, err := NewPublisher(ctx, p, "orders", codec[Created](t, createdAvsc))
	if err != nil {
		t.Fatal(err)
	}
	evs := []Created{{"a", 1}, {"b", 2}, {"a", 3}, {"c", 4}}
	res, err := pub.PublishAll(ctx, evs...)
	if err != nil {
		t.Fatal(err)
	}
	wantSeq := []uint64{1, 1, 2, 1}
	for i, r := range res {
		if r.Seq != wantSeq[i] || r.Partition != int32(partition.For([]byte(evs[i].OrderID), 3)) || r.Offset < 0 {
			t.Errorf("result %d: %+v", i, r)
		}
	}

	_, err = pub.PublishAll(ctx, Created{"d", 1}, Created{"", 2})
	if !errors.Is(err, partition.ErrNoKey) || !strings.Contains(err.Error(), "event 1:") {
		t.Fatalf("batch with empty key: %v, want ErrNoKey at event 1", err)
	}
	e.readAll(t, "orders", len(evs)) // nothing of the refused batch was written
	if r, err := pub.Publish(ctx, Created{"d", 9}); err != nil || r.Seq != 1 {
		t.Fatalf("after refused batch: %+v, %v (want seq 1: no stamp consumed)", r, err)
	}
}

// holdProduce makes the cluster sit on produce requests until the
// returned release is called (also at cleanup).
func holdProduce(t *testing.T, e *env) (release func()) {
	ch := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(ch) }) }
	t.Cleanup(release)
	kc := e.c.Kafka()
	kc.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		kc.SleepControl(func() { <-ch })
		return nil, nil, false
	})
	return release
}

// TestBufferFull protects back-pressure: with the buffer full,
// TryPublishAsync fails fast with ErrBufferFull, PublishAsync blocks until
// its ctx ends, and neither consumes a sequence number.
func TestBufferFull(t *testing.T) {
	e := startEnv(t, map[string]int32{"orders": 1})
	p := e.producer(t, MaxBufferedRecords(1))
	ctx := context.Background()
	pub, err := NewPublisher(ctx, p, "orders", codec[Created](t, createdAvsc))
	if err != nil {
		t.Fatal(err)
	}
	release := holdProduce(t, e)
	first := make(chan Result, 1)
	if err := pub.TryPublishAsync(ctx, Created{"k", 1}, func(r Result, err error) {
		if err != nil {
			t.Errorf("first: %v", err)
		}
		first <- r
	}); err != nil {
		t.Fatalf("first TryPublishAsync: %v", err)
	}
	never := func(Result, error) { t.Error("done called for a refused event") }
	err = pub.TryPublishAsync(ctx, Created{"k", 2}, never)
	var pe *PublishError
	if !errors.Is(err, ErrBufferFull) || !errors.As(err, &pe) || pe.Topic != "orders" {
		t.Fatalf("second TryPublishAsync: %v, want ErrBufferFull in a PublishError", err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := pub.PublishAsync(short, Created{"k", 3}, never); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("blocked PublishAsync: %v, want DeadlineExceeded", err)
	}
	if _, err := pub.Publish(short, Created{"k", 4}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("blocked Publish: %v, want DeadlineExceeded", err)
	}
	release()
	if r := <-first; r.Seq != 1 {
		t.Fatalf("first: %+v", r)
	}
	r, err := pub.Publish(ctx, Created{"k", 5})
	if err != nil || r.Seq != 2 {
		t.Fatalf("after release: %+v, %v (want seq 2: refusals consume no seq)", r, err)
	}
}

// TestEmptyKey protects the key contract at run time (the compile-time
// half is Metric's comment in helpers_test.go).
func TestEmptyKey(t *testing.T) {
	e := startEnv(t, map[string]int32{"orders": 3})
	p := e.producer(t)
	ctx := context.Background()
	pub, err := NewPublisher(ctx, p, "orders", codec[Created](t, createdAvsc))
	if err != nil {
		t.Fatal(err)
	}
	never := func(Result, error) { t.Error("done called") }
	calls := map[string]func() error{
		"Publish":         func() error { _, err := pub.Publish(ctx, Created{}); return err },
		"PublishAsync":    func() error { return pub.PublishAsync(ctx, Created{}, never) },
		"TryPublishAsync": func() error { return pub.TryPublishAsync(ctx, Created{}, never) },
		"PublishAll":      func() error { _, err := pub.PublishAll(ctx, Created{}); return err },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			err := call()
			var pe *PublishError
			if !errors.Is(err, partition.ErrNoKey) || !errors.As(err, &pe) || pe.Type != "ordo.test.orders.Created" {
				t.Fatalf("got %v, want a PublishError wrapping partition.ErrNoKey", err)
			}
		})
	}
}

// TestUnordered protects the opt-out: no key, no ordo-seq, the other
// headers present.
func TestUnordered(t *testing.T) {
	e := startEnv(t, map[string]int32{"metrics": 3})
	p := e.producer(t)
	ctx := context.Background()
	pub, err := NewUnorderedPublisher(ctx, p, "metrics", codec[Metric](t, metricAvsc))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pub.PublishAll(ctx, Metric{"cpu", 0.5}, Metric{"mem", 0.25}); err != nil {
		t.Fatal(err)
	}
	for _, r := range e.readAll(t, "metrics", 2) {
		if r.Key != nil {
			t.Errorf("key %q, want none", r.Key)
		}
		if _, ok := header.Get(r.Headers, header.Seq); ok {
			t.Error("unordered record has ordo-seq")
		}
		for _, h := range []string{header.Type, header.ID, header.Producer} {
			if _, ok := header.Get(r.Headers, h); !ok {
				t.Errorf("missing header %s", h)
			}
		}
	}
}

// TestMultiTypeTopic protects several event types on one topic under the
// record strategies: one key's Created, Paid, Shipped stay in order with
// one sequence across types.
func TestMultiTypeTopic(t *testing.T) {
	for _, s := range []schema.SubjectStrategy{schema.RecordName, schema.TopicRecordName} {
		t.Run(s.String(), func(t *testing.T) {
			e := startEnv(t, map[string]int32{"orders": 4})
			p := e.producer(t, Subjects(s))
			ctx := context.Background()
			created, err := NewPublisher(ctx, p, "orders", codec[Created](t, createdAvsc))
			if err != nil {
				t.Fatal(err)
			}
			paid, err := NewPublisher(ctx, p, "orders", codec[Paid](t, paidAvsc))
			if err != nil {
				t.Fatal(err)
			}
			shipped, err := NewPublisher(ctx, p, "orders", codec[Shipped](t, shippedAvsc))
			if err != nil {
				t.Fatal(err)
			}
			keys := []string{"o1", "o2", "o3", "o4", "o5"}
			var wg sync.WaitGroup
			for _, k := range keys { // keys in parallel, each key's events in order
				wg.Go(func() {
					steps := []func() (Result, error){
						func() (Result, error) { return created.Publish(ctx, Created{k, 10}) },
						func() (Result, error) { return paid.Publish(ctx, Paid{k, "card"}) },
						func() (Result, error) { return shipped.Publish(ctx, Shipped{k}) },
					}
					for _, step := range steps {
						if _, err := step(); err != nil {
							t.Errorf("%s: %v", k, err)
						}
					}
				})
			}
			wg.Wait()
			seen := map[string][]string{}
			for _, r := range e.readAll(t, "orders", 3*len(keys)) {
				typ, _ := header.Get(r.Headers, header.Type)
				seq, _ := header.Get(r.Headers, header.Seq)
				seen[string(r.Key)] = append(seen[string(r.Key)], seq+":"+typ[strings.LastIndex(typ, ".")+1:])
			}
			for _, k := range keys {
				if got := strings.Join(seen[k], " "); got != "1:Created 2:Paid 3:Shipped" {
					t.Errorf("key %s: %s", k, got)
				}
			}
		})
	}
}

// TestSecondTypeUnderTopicName protects the refusal of a second event type
// under the TopicName strategy, from this producer (caught locally) and
// from another one (caught by the registry gate), with a message that says
// what to do.
func TestSecondTypeUnderTopicName(t *testing.T) {
	e := startEnv(t, map[string]int32{"orders": 3})
	ctx := context.Background()
	p1 := e.producer(t)
	if _, err := NewPublisher(ctx, p1, "orders", codec[Created](t, createdAvsc)); err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]*Producer{"same producer": p1, "other producer": e.producer(t)} {
		t.Run(name, func(t *testing.T) {
			_, err := NewPublisher(ctx, p, "orders", codec[Paid](t, paidAvsc))
			if !errors.Is(err, schema.ErrIncompatible) {
				t.Fatalf("got %v, want schema.ErrIncompatible", err)
			}
			for _, want := range []string{"orders-value", "schema.RecordName", "schema.TopicRecordName"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %s", err, want)
				}
			}
		})
	}
}

// TestPartitionCountChange protects the guard: after partitions are added
// to a topic, keyed publishes fail with a *partition.CountChangedError
// under Refuse, and flow to the keys' new partitions under Warn, with one
// warning logged.
func TestPartitionCountChange(t *testing.T) {
	for _, policy := range []CountChangePolicy{Refuse, Warn} {
		t.Run(policy.String(), func(t *testing.T) {
			e := startEnv(t, map[string]int32{"orders": 3})
			var logs syncBuffer
			p := e.producer(t, OnPartitionCountChange(policy), WithLogger(testLogger(&logs)),
				KgoOpts(kgo.MetadataMinAge(10*time.Millisecond), kgo.MetadataMaxAge(50*time.Millisecond)))
			ctx := context.Background()
			pub, err := NewPublisher(ctx, p, "orders", codec[Created](t, createdAvsc))
			if err != nil {
				t.Fatal(err)
			}
			key := movedKey(t, 3, 6)
			if r, err := pub.Publish(ctx, Created{key, 1}); err != nil || r.Partition != int32(partition.For([]byte(key), 3)) {
				t.Fatalf("before: %+v, %v", r, err)
			}
			e.addPartitions(t, "orders", 3)
			r, err := publishUntilChanged(ctx, t, pub, key, 3)
			switch policy {
			case Refuse:
				var cc *partition.CountChangedError
				if !errors.As(err, &cc) || cc.Was != 3 || cc.Now != 6 || !errors.Is(err, partition.ErrCountChanged) {
					t.Fatalf("got %+v, %v; want CountChangedError 3 -> 6", r, err)
				}
				if _, err := pub.Publish(ctx, Created{key, 3}); !errors.Is(err, partition.ErrCountChanged) {
					t.Fatalf("refusal did not stick: %v", err)
				}
			case Warn:
				if err != nil || r.Partition != int32(partition.For([]byte(key), 6)) {
					t.Fatalf("got %+v, %v; want the key's partition at 6", r, err)
				}
				if got := strings.Count(logs.String(), "partition count changed"); got != 1 {
					t.Fatalf("logged %d warnings, want 1:\n%s", got, logs.String())
				}
			}
		})
	}
}

// movedKey returns a key whose partition differs between counts a and b.
func movedKey(t *testing.T, a, b int) string {
	for i := range 100 {
		k := fmt.Sprint("order-", i)
		if partition.For([]byte(k), a) != partition.For([]byte(k), b) {
			return k
		}
	}
	t.Fatal("no moved key")
	return ""
}

// publishUntilChanged publishes key until the producer's metadata shows a
// count other than was: the first error, or the first result on a
// partition the key did not map to at was.
func publishUntilChanged(ctx context.Context, t *testing.T, pub *Publisher[Created], key string, was int) (Result, error) {
	old := int32(partition.For([]byte(key), was))
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		r, err := pub.Publish(ctx, Created{key, 2})
		if err != nil || r.Partition != old {
			return r, err
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("partition count change not seen in 10s")
	return Result{}, nil
}
