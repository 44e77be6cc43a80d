package producer

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/internal/header"
	"github.com/ordo-go/ordo/partition"
)

// TestCountChangeSurvivesRestart protects the partition-count guard across
// producer restarts: the count a keyed record was placed under is stamped
// in the topic (ordo-partitions), so a producer started after partitions
// were added refuses keyed records (Refuse) or logs and adopts the change
// (Warn) instead of silently moving keys; after AcceptPartitionCount it
// publishes under the new count, and a producer started after that starts
// clean. A record from a producer that stamps nothing is ignored.
func TestCountChangeSurvivesRestart(t *testing.T) {
	for _, policy := range []CountChangePolicy{Refuse, Warn} {
		t.Run(policy.String(), func(t *testing.T) {
			e := startEnv(t, map[string]int32{"orders": 3})
			ctx := context.Background()
			key := movedKey(t, 3, 6)

			a := e.producer(t)
			pubA := newCreatedPublisher(t, a)
			if r, err := pubA.Publish(ctx, Created{key, 1}); err != nil || r.Partition != int32(partition.For([]byte(key), 3)) {
				t.Fatalf("A: %+v, %v", r, err)
			}
			a.Close()
			e.produceRaw(t, "orders", 2) // newer than A's record, but no stamp
			e.addPartitions(t, "orders", 3)

			var logs syncBuffer
			b := e.producer(t, OnPartitionCountChange(policy), WithLogger(testLogger(&logs)))
			pubB := newCreatedPublisher(t, b)
			r, err := pubB.Publish(ctx, Created{key, 2})
			switch policy {
			case Refuse:
				var cc *partition.CountChangedError
				if !errors.As(err, &cc) || cc.Was != 3 || cc.Now != 6 {
					t.Fatalf("fresh producer after the change: %+v, %v; want CountChangedError 3 -> 6", r, err)
				}
				b.AcceptPartitionCount("orders", 6)
				if r, err = pubB.Publish(ctx, Created{key, 3}); err != nil {
					t.Fatalf("after AcceptPartitionCount: %v", err)
				}
			case Warn:
				if err != nil {
					t.Fatalf("Warn: %v", err)
				}
				if !strings.Contains(logs.String(), "partition count changed") || !strings.Contains(logs.String(), "was=3 now=6") {
					t.Fatalf("Warn: no warning about 3 -> 6 logged:\n%s", logs.String())
				}
			}
			if r.Partition != int32(partition.For([]byte(key), 6)) {
				t.Fatalf("B wrote to partition %d, want the key's partition at 6", r.Partition)
			}
			b.Close()

			c := e.producer(t)
			if r, err := newCreatedPublisher(t, c).Publish(ctx, Created{key, 4}); err != nil || r.Partition != int32(partition.For([]byte(key), 6)) {
				t.Fatalf("fresh producer after the accepted change: %+v, %v", r, err)
			}
			stamps := map[string]int{}
			for _, rec := range e.readAll(t, "orders", 4) {
				v, _ := header.Get(rec.Headers, header.Partitions)
				stamps[v]++
			}
			if stamps["3"] != 1 || stamps["6"] != 2 || stamps[""] != 1 {
				t.Fatalf("ordo-partitions stamps %v, want 3 once (A), 6 twice (B, C), none on the raw record", stamps)
			}
		})
	}
}

// TestCountStampedOnKeyedRecordsOnly protects the header contract: keyed
// records carry the count they were placed under, unkeyed ones none.
func TestCountStampedOnKeyedRecordsOnly(t *testing.T) {
	e := startEnv(t, map[string]int32{"orders": 5, "metrics": 2})
	p := e.producer(t)
	ctx := context.Background()
	if _, err := newCreatedPublisher(t, p).Publish(ctx, Created{"k", 1}); err != nil {
		t.Fatal(err)
	}
	up, err := NewUnorderedPublisher(ctx, p, "metrics", codec[Metric](t, metricAvsc))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := up.Publish(ctx, Metric{"m", 1}); err != nil {
		t.Fatal(err)
	}
	if v, _ := header.Get(e.readAll(t, "orders", 1)[0].Headers, header.Partitions); v != "5" {
		t.Fatalf("keyed record: ordo-partitions %q, want 5", v)
	}
	if v, ok := header.Get(e.readAll(t, "metrics", 1)[0].Headers, header.Partitions); ok {
		t.Fatalf("unkeyed record: ordo-partitions %q, want none", v)
	}
}

func newCreatedPublisher(t *testing.T, p *Producer) *Publisher[Created] {
	t.Helper()
	pub, err := NewPublisher(context.Background(), p, "orders", codec[Created](t, createdAvsc))
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// produceRaw writes a keyed record with no ordo headers to partition
// part of topic, as a producer of another stack would.
func (e *env) produceRaw(t *testing.T, topic string, part int32) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.c.Brokers()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	time.Sleep(5 * time.Millisecond) // a later timestamp than the records before
	r := &kgo.Record{Topic: topic, Partition: part, Key: []byte("other"), Value: []byte("x")}
	if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// TestAcceptOtherCountRefuses protects AcceptPartitionCount's contract:
// accepting a count the topic does not have makes keyed records refused,
// even while they were flowing under the real count.
func TestAcceptOtherCountRefuses(t *testing.T) {
	e := startEnv(t, map[string]int32{"orders": 3})
	p := e.producer(t)
	pub := newCreatedPublisher(t, p)
	ctx := context.Background()
	if _, err := pub.Publish(ctx, Created{"k", 1}); err != nil {
		t.Fatal(err)
	}
	p.AcceptPartitionCount("orders", 4)
	var cc *partition.CountChangedError
	if _, err := pub.Publish(ctx, Created{"k", 2}); !errors.As(err, &cc) || cc.Was != 4 || cc.Now != 3 {
		t.Fatalf("after accepting 4 on a 3-partition topic: %v, want CountChangedError 4 -> 3", err)
	}
	p.AcceptPartitionCount("orders", 3)
	if _, err := pub.Publish(ctx, Created{"k", 3}); err != nil {
		t.Fatalf("after accepting 3 again: %v", err)
	}
}

// TestCountGuardSeesPastOtherWriters protects the guard from other
// writers: when a producer that stamps nothing (another stack's client,
// an unordered publisher) wrote the last record of every partition after
// a 3 -> 6 change, a fresh producer still finds ordo's stamp further back
// and refuses (before, it read the last records only, found no stamp and
// published, moving keys). When every stamp is further back than the
// look-back, the count cannot be known: the producer says so with a
// warning and starts from the count now.
func TestCountGuardSeesPastOtherWriters(t *testing.T) {
	t.Run("hidden", func(t *testing.T) {
		e := startEnv(t, map[string]int32{"orders": 3})
		e.stampEveryPartition(t, 3)
		e.addPartitions(t, "orders", 3)
		for part := range int32(6) {
			e.produceRaw(t, "orders", part)
		}
		e.produceRawN(t, "orders", 0, 100) // partition 0's stamp is 101 records back
		b := e.producer(t)
		_, err := newCreatedPublisher(t, b).Publish(context.Background(), Created{movedKey(t, 3, 6), 2})
		var cc *partition.CountChangedError
		if !errors.As(err, &cc) || cc.Was != 3 || cc.Now != 6 {
			t.Fatalf("fresh producer after the change, last records unstamped: %v; want CountChangedError 3 -> 6", err)
		}
	})
	t.Run("unknown", func(t *testing.T) {
		e := startEnv(t, map[string]int32{"orders": 3})
		e.stampEveryPartition(t, 3)
		for part := range int32(3) {
			e.produceRawN(t, "orders", part, int(countLookback[len(countLookback)-1]))
		}
		e.addPartitions(t, "orders", 3)
		var logs syncBuffer
		b := e.producer(t, WithLogger(testLogger(&logs)))
		if _, err := newCreatedPublisher(t, b).Publish(context.Background(), Created{"k", 2}); err != nil {
			t.Fatalf("count unknown: %v, want the count now adopted", err)
		}
		if !strings.Contains(logs.String(), "cannot find the partition count") || !strings.Contains(logs.String(), "now=6") {
			t.Fatalf("count unknown: no warning logged:\n%s", logs.String())
		}
	})
}

// stampEveryPartition publishes, through an ordo producer closed
// afterwards, one keyed event to each of orders' n partitions.
func (e *env) stampEveryPartition(t *testing.T, n int) {
	t.Helper()
	a := e.producer(t)
	pub := newCreatedPublisher(t, a)
	hit := map[int32]bool{}
	for i := 0; len(hit) < n; i++ {
		r, err := pub.Publish(context.Background(), Created{"k" + strconv.Itoa(i), 1})
		if err != nil {
			t.Fatal(err)
		}
		hit[r.Partition] = true
	}
	a.Close()
}

// produceRawN writes n records with no ordo headers to partition part.
func (e *env) produceRawN(t *testing.T, topic string, part int32, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.c.Brokers()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rs := make([]*kgo.Record, n)
	for i := range rs {
		rs[i] = &kgo.Record{Topic: topic, Partition: part, Key: []byte("other"), Value: []byte("x")}
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}
