//go:build integration

package kafkatest

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// seqRecord is a record of key k whose value is its per-key sequence number.
func seqRecord(topic string, k, seq int) *kgo.Record {
	v := binary.BigEndian.AppendUint64(nil, uint64(seq))
	return &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "key-%03d", k), Value: v}
}

// ledger records what was acknowledged and checks what was consumed.
type ledger struct {
	mu    sync.Mutex
	acked map[string]map[uint64]bool // key -> sequences acknowledged
	n     int
}

func newLedger() *ledger { return &ledger{acked: map[string]map[uint64]bool{}} }

func (l *ledger) ack(r *kgo.Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := l.acked[string(r.Key)]
	if m == nil {
		m = map[uint64]bool{}
		l.acked[string(r.Key)] = m
	}
	m[binary.BigEndian.Uint64(r.Value)] = true
	l.n++
}

func (l *ledger) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// consumeAll reads topic from the start until want distinct (key, seq)
// pairs were seen or ctx ends, checking on the way that each key stays on
// one partition and that its sequence numbers strictly increase in offset
// order (no reordering, no duplicates). It returns the pairs seen.
func consumeAll(ctx context.Context, t *testing.T, c *Cluster, topic string, want int) map[string]map[uint64]bool {
	t.Helper()
	cl := c.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := map[string]map[uint64]bool{}
	last := map[string]uint64{}
	part := map[string]int32{}
	got := 0
	for got < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records before %v", got, want, ctx.Err())
		}
		fs.EachError(func(topic string, p int32, err error) {
			t.Fatalf("fetch %s[%d]: %v", topic, p, err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			k, seq := string(r.Key), binary.BigEndian.Uint64(r.Value)
			if p, ok := part[k]; ok && p != r.Partition {
				t.Fatalf("key %s on partitions %d and %d", k, p, r.Partition)
			}
			part[k] = r.Partition
			if prev, ok := last[k]; ok && seq <= prev {
				t.Fatalf("key %s: seq %d at offset %d after seq %d: per-key order broken", k, seq, r.Offset, prev)
			}
			last[k] = seq
			if seen[k] == nil {
				seen[k] = map[uint64]bool{}
			}
			seen[k][seq] = true
			got++
		})
	}
	return seen
}

// TestSingleBrokerRoundTrip protects the harness's basic promise: a broker
// that accepts a topic, 1000 keyed records, and gives them all back in
// per-key order.
func TestSingleBrokerRoundTrip(t *testing.T) {
	ctx := Bound(t, 4*time.Minute)
	c := StartBroker(ctx, t)
	const topic, keys, total = "roundtrip", 50, 1000
	if _, err := c.Admin(t).CreateTopic(ctx, 4, 1, nil, topic); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	cl := c.Client(t)
	l := newLedger()
	recs := make([]*kgo.Record, 0, total)
	for i := range total {
		recs = append(recs, seqRecord(topic, i%keys, i/keys))
	}
	for _, res := range cl.ProduceSync(ctx, recs...) {
		if res.Err != nil {
			t.Fatalf("produce: %v", res.Err)
		}
		l.ack(res.Record)
	}
	seen := consumeAll(ctx, t, c, topic, total)
	checkNoLoss(t, l, seen)
}

// TestClusterNoAckedLossAcrossRestart is the durability property of the
// three-node cluster: with replication factor 3, min.insync.replicas 2 and
// acks=all, a producer that keeps writing while a partition leader is
// stopped gracefully, then one is killed, then one is frozen (each brought
// back before the next) loses no acknowledged record; every key's records come back once each,
// in the order they were produced; and writes go on while a node is down.
func TestClusterNoAckedLossAcrossRestart(t *testing.T) {
	ctx := Bound(t, 8*time.Minute)
	c := StartCluster(ctx, t, 3)
	const topic = "durable"
	adm := c.Admin(t)
	if _, err := adm.CreateTopic(ctx, 6, 3, nil, topic); err != nil {
		t.Fatalf("create topic: %v", err)
	}

	cl := c.Client(t, kgo.RequiredAcks(kgo.AllISRAcks()))
	l := newLedger()
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() { // owned by this test: ends when stop closes or ctx ends
		done <- produceUntil(ctx, stop, cl, l, topic)
	}()
	stopProducer := sync.OnceValue(func() error {
		close(stop)
		return <-done
	})
	defer stopProducer() // on t.Fatal too: the goroutine must not outlive the test

	outages := []struct {
		name     string
		down, up func(context.Context, int) error
		part     int32
	}{
		{"stop", c.Stop, c.Start, 0},
		{"kill", c.Kill, c.Start, 1},
		{"pause", c.Pause, c.Unpause, 2},
	}
	waitAcked(ctx, t, l, 300)
	for _, o := range outages {
		victim := leaderNode(ctx, t, adm, topic, o.part)
		if err := o.down(ctx, victim); err != nil {
			t.Fatal(err)
		}
		down := l.count()
		t.Logf("%s: node %d (leader of partition %d) down after %d acks", o.name, victim, o.part, down)
		waitAcked(ctx, t, l, down+500) // writes go on with one node down
		if err := o.up(ctx, victim); err != nil {
			t.Fatal(err)
		}
		up := l.count()
		t.Logf("%s: node %d up again after %d acks", o.name, victim, up)
		waitAcked(ctx, t, l, up+300)
	}
	if err := stopProducer(); err != nil {
		t.Fatal(err)
	}
	seen := consumeAll(ctx, t, c, topic, l.count())
	checkNoLoss(t, l, seen)
	t.Logf("%d acknowledged records, all consumed once, per-key order kept", l.count())
}

// produceUntil writes batches of 30 records over 60 keys, each key's
// values numbering its records, until stop closes. It returns the first
// produce error: with kgo's defaults (idempotent, unbounded retries) there
// should be none.
func produceUntil(ctx context.Context, stop <-chan struct{}, cl *kgo.Client, l *ledger, topic string) error {
	const keys, batch = 60, 30
	for i := 0; ; {
		select {
		case <-stop:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond): // spread writes over the outages
		}
		recs := make([]*kgo.Record, 0, batch)
		for range batch {
			recs = append(recs, seqRecord(topic, i%keys, i/keys))
			i++
		}
		for _, res := range cl.ProduceSync(ctx, recs...) {
			if res.Err != nil {
				return fmt.Errorf("produce %s: %w", res.Record.Key, res.Err)
			}
			l.ack(res.Record)
		}
	}
}

func waitAcked(ctx context.Context, t *testing.T, l *ledger, n int) {
	t.Helper()
	for l.count() < n {
		select {
		case <-ctx.Done():
			t.Fatalf("only %d of %d records acknowledged: %v", l.count(), n, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// leaderNode returns the index of the node leading partition p of topic.
func leaderNode(ctx context.Context, t *testing.T, adm *kadm.Client, topic string, p int32) int {
	t.Helper()
	tds, err := adm.ListTopics(ctx, topic)
	if err != nil {
		t.Fatalf("list topics: %v", err)
	}
	pd, ok := tds[topic].Partitions[p]
	if !ok || pd.Leader < 1 {
		t.Fatalf("no leader for %s[%d]: %+v", topic, p, tds[topic])
	}
	return int(pd.Leader) - 1
}

func checkNoLoss(t *testing.T, l *ledger, seen map[string]map[uint64]bool) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	lost := 0
	for k, seqs := range l.acked {
		for s := range seqs {
			if !seen[k][s] {
				lost++
				if lost <= 10 {
					t.Errorf("acknowledged record %s seq %d never consumed", k, s)
				}
			}
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged records lost", lost, l.n)
	}
}
