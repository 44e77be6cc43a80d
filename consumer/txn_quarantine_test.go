package consumer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ordo-go/ordo/consumer/dlq"
	"github.com/ordo-go/ordo/partition"
)

// txnQuarantineHandler emits each record's output, except key "bad"'s
// seq 2, which fails permanently (dead-lettered, its key quarantined); it
// records the seqs it handled per key.
type txnQuarantineHandler struct {
	r       *txnRig
	mu      sync.Mutex
	handled map[string][]int64
}

func (h *txnQuarantineHandler) handle(ctx context.Context, s Step, _ Meta) error {
	if s.Key == "bad" && s.Seq == 2 {
		return Permanent(errors.New("bad#2 cannot be handled"))
	}
	if err := h.r.handle(ctx, s); err != nil {
		return err
	}
	h.mu.Lock()
	h.handled[s.Key] = append(h.handled[s.Key], s.Seq)
	h.mu.Unlock()
	return nil
}

// TestTxnQuarantineAcrossRestart protects Transactional combined with the
// dead-letter quarantine (New refused the two together before): a
// poison record of key "bad" is dead-lettered and its key's later records
// follow it into the dead-letter topic, in order, before and after a
// restart of the member (same transactional ID), while every other key's
// outputs are read once each by a read_committed reader, in order, and
// the group's offsets reach the end of the input.
func TestTxnQuarantineAcrossRestart(t *testing.T) {
	r := newTxnRig(t, 2)
	r.createTopic(dlt, 1)
	bad := func(seq int64) { r.produce(r.record(Step{Key: "bad", Seq: seq})) }
	const keys = 10
	bad(1)
	r.publish(keys, 5)
	bad(2)
	r.publish(keys, 5)
	bad(3)
	bad(4)
	rd := r.read(t, kgo.ReadCommitted())
	h := &txnQuarantineHandler{r: r, handled: make(map[string][]int64)}
	member := func() (*Consumer, func() error) {
		c := r.consumer("txq", h.handle, Transactional("txq-1"), DeadLetterTopic(dlt), Concurrency(4))
		return c, runConsumer(t, c)
	}
	stop := func(c *Consumer, wait func() error) {
		t.Helper()
		if err := c.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := wait(); err != nil {
			t.Fatal(err)
		}
	}
	a, waitA := member()
	waitFor(t, 20*time.Second, "bad#2..4 dead-lettered and the other outputs read", func() bool {
		return a.Stats().DeadLettered == 3 && rd.count() >= keys*10+1
	})
	stop(a, waitA)
	sum := func() (n int64) {
		for _, off := range r.committed("txq") {
			n += off
		}
		return n
	}
	if got := sum(); got != keys*10+4 {
		t.Fatalf("committed offsets sum to %d before the restart, want %d", got, keys*10+4)
	}
	if s := r.quarantined("txq", int32(partition.For([]byte("bad"), 2))); s.Len() != 1 {
		t.Fatalf("the quarantine store holds %d keys of bad's partition, want 1", s.Len())
	}

	// The restart: the quarantine is loaded from the store, and bad's
	// next records follow its dead letters.
	bad(5)
	r.publish(keys, 5)
	bad(6)
	b, waitB := member()
	waitFor(t, 20*time.Second, "bad#5..6 dead-lettered and the other outputs read", func() bool {
		return b.Stats().DeadLettered == 2 && rd.count() >= keys*15+1
	})
	stop(b, waitB)
	time.Sleep(300 * time.Millisecond) // a duplicate would arrive in this while
	if got := sum(); got != keys*15+6 {
		t.Fatalf("committed offsets sum to %d after the restart, want %d", got, keys*15+6)
	}
	checkTxnQuarantine(t, r, rd, h, keys, 15)
}

// checkTxnQuarantine checks the outputs (each key's 1..perKey once, in
// order; bad's seq 1 only), the handlings of bad, and the dead letters:
// bad#2 (permanent), then #3 to #6 quarantined behind it, in order.
func checkTxnQuarantine(t *testing.T, r *txnRig, rd *reader, h *txnQuarantineHandler, keys, perKey int) {
	t.Helper()
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if got := fmt.Sprint(rd.seqs["bad"]); got != "[1]" {
		t.Fatalf("bad's outputs %s, want [1]: a quarantined record was handled", got)
	}
	want := make([]int64, perKey)
	for i := range want {
		want[i] = int64(i + 1)
	}
	for k := range keys {
		key := fmt.Sprintf("key-%03d", k)
		if !slices.Equal(rd.seqs[key], want) {
			t.Fatalf("key %s: outputs %v, want 1..%d once each, in order", key, rd.seqs[key], perKey)
		}
	}
	for id, n := range rd.ids {
		if n != 1 {
			t.Fatalf("event %s read %d times", id, n)
		}
	}
	h.mu.Lock()
	if got := fmt.Sprint(h.handled["bad"]); got != "[1]" {
		t.Fatalf("bad handled %s, want [1]", got)
	}
	h.mu.Unlock()
	var got []string
	var start int64 = -1
	for _, d := range r.readTopic(dlt, 5) {
		info, err := dlq.Parse(d)
		if err != nil {
			t.Fatal(err)
		}
		var s Step
		if err := r.codec.Decode(d.Value[5:], &s); err != nil {
			t.Fatal(err)
		}
		if info.Reason == dlq.Permanent {
			start = info.Offset
		}
		got = append(got, fmt.Sprintf("%s#%d %s %d", s.Key, s.Seq, info.Reason, info.QuarantineOffset))
	}
	wantDL := []string{fmt.Sprintf("bad#2 %s -1", dlq.Permanent)}
	for seq := 3; seq <= 6; seq++ {
		wantDL = append(wantDL, fmt.Sprintf("bad#%d %s %d", seq, dlq.Quarantined, start))
	}
	if !slices.Equal(got, wantDL) {
		t.Fatalf("dead letters %q, want %q", got, wantDL)
	}
}

// TestTxnQuarantineWaitsForStore protects the order of the flush and the
// transaction: while the quarantine store refuses writes, no transaction
// commits an offset past the dead letters, and none makes an output
// visible (none is even written: the transaction is not begun); once the
// store takes the quarantine, the transaction commits past them, and
// every output is read once.
func TestTxnQuarantineWaitsForStore(t *testing.T) {
	r := newTxnRig(t, 1)
	r.createTopic(dlt, 1)
	r.poisonKeys(3) // offsets 0-2: unreadable, dead-lettered, their keys quarantined
	const keys, perKey = 5, 4
	r.publish(keys, perKey)
	tds, err := r.adm.ListTopics(context.Background(), dlt)
	if err != nil {
		t.Fatal(err)
	}
	dltID := tds[dlt].ID
	var refuse atomic.Bool
	refuse.Store(true)
	kc := r.cluster.Kafka()
	kc.ControlKey(int16(kmsg.Produce), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		req := kr.(*kmsg.ProduceRequest)
		// The store's writes are the only ones neither transactional (the
		// outputs) nor to the dead-letter topic.
		if !refuse.Load() || req.TransactionID != nil || len(req.Topics) == 0 || req.Topics[0].TopicID == dltID || req.Topics[0].Topic == dlt {
			return nil, nil, false
		}
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, kerr.TopicAuthorizationFailed.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	committedRd, uncommittedRd := r.read(t, kgo.ReadCommitted()), r.read(t, kgo.ReadUncommitted())
	c := r.consumer("txq-wait", func(ctx context.Context, s Step, _ Meta) error { return r.handle(ctx, s) },
		Transactional("txq-wait-1"), DeadLetterTopic(dlt), Concurrency(4))
	wait := runConsumer(t, c)
	waitFor(t, 10*time.Second, "3 dead letters and the rest handled", func() bool {
		st := c.Stats()
		return st.DeadLettered == 3 && st.Handled == keys*perKey
	})
	time.Sleep(time.Second) // forty ticks, each a refused flush
	if got := r.committed("txq-wait")[0]; got > 0 {
		t.Fatalf("committed %d while the store refused the quarantine", got)
	}
	if n, m := committedRd.count(), uncommittedRd.count(); n != 0 || m != 0 {
		t.Fatalf("while the store refused the quarantine, readers saw %d committed and %d uncommitted outputs, want none", n, m)
	}
	refuse.Store(false)
	waitFor(t, 10*time.Second, "the commit past the dead letters", func() bool { return r.committed("txq-wait")[0] == 3+keys*perKey })
	waitFor(t, 10*time.Second, "every output", func() bool { return committedRd.count() >= keys*perKey })
	if err := c.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	committedRd.check(t, keys, perKey)
	if s := r.quarantined("txq-wait", 0); s.Len() != 3 {
		t.Fatalf("store holds %d keys, want 3", s.Len())
	}
}
