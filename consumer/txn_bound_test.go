package consumer

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// waitingOutputs returns the bytes of the outputs c's partitions hold for
// their transaction.
func waitingOutputs(c *Consumer) int {
	c.sched.mu.Lock()
	defer c.sched.mu.Unlock()
	n := 0
	for _, ps := range c.sched.parts {
		n += ps.txn.bytes
	}
	return n
}

// TestTxnOutputsBoundHoldsLanes protects the outputs' memory bound when
// outputs are much larger than their inputs: with the first record
// unfinished (the commit point held), the records already buffered behind
// it (~1,000 of them fit in half of MaxBufferedBytes, 1 MiB) are not all
// handled into 16 KiB outputs (16 MiB): the lanes stop starting records
// once the waiting outputs fill half of MaxBufferedBytes, so they stay
// within it plus the outputs of the records running then (Concurrency 4).
// Once the first record finishes, every output is read once, in order.
func TestTxnOutputsBoundHoldsLanes(t *testing.T) {
	r := newTxnRig(t, 1)
	r.produce(r.record(Step{Key: "slow", Seq: 1}))
	const keys, perKey = 100, 20
	for s := range perKey {
		var recs []*kgo.Record
		for k := range keys {
			recs = append(recs, r.record(Step{Key: fmt.Sprintf("key-%03d", k), Seq: int64(s + 1)}))
		}
		r.produce(recs...)
	}
	release := make(chan struct{})
	const outSize, maxBytes, lanes = 16 << 10, 1 << 20, 4
	big := make([]byte, outSize)
	rd := r.read(t, kgo.ReadCommitted())
	c := r.consumer("txn-bound-lanes", func(ctx context.Context, s Step, _ Meta) error {
		if s.Key == "slow" {
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		ev, err := r.pub.Seal(ctx, keyedStep(s))
		if err != nil {
			return err
		}
		ev.Headers = append(ev.Headers, kgo.RecordHeader{Key: "pad", Value: big})
		return Emit(ctx, ev)
	}, Transactional("txn-bound-lanes-1"), Concurrency(lanes), MaxBufferedBytes(maxBytes))
	wait := runConsumer(t, c)
	defer func() {
		c.Close()
		_ = wait()
	}()
	handled := waitHandlingStops(t, c)
	held, bound := waitingOutputs(c), maxBytes/2+lanes*(outSize+1024)
	t.Logf("%d records handled behind the unfinished first one, %d KiB of outputs waiting (bound %d KiB)", handled, held>>10, bound>>10)
	if held > bound {
		t.Fatalf("%d records handled behind the unfinished first one, their outputs hold %d KiB: over half of MaxBufferedBytes (%d KiB) plus %d running records' (%d KiB)",
			handled, held>>10, maxBytes>>11, lanes, bound>>10)
	}
	close(release)
	waitFor(t, 30*time.Second, "every output", func() bool { return rd.count() >= keys*perKey+1 })
	if err := c.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // a duplicate would arrive in this while
	rd.mu.Lock()
	defer rd.mu.Unlock()
	for k, seqs := range rd.seqs {
		for i, s := range seqs {
			if s != int64(i+1) {
				t.Fatalf("key %s: outputs %v, want 1..%d once each, in order", k, seqs, len(seqs))
			}
		}
	}
	if len(rd.seqs) != keys+1 {
		t.Fatalf("outputs of %d keys, want %d", len(rd.seqs), keys+1)
	}
}

// TestTxnOutputsBoundLetsCommitPointRun protects the bound's progress: the
// first record fails once and waits for its retry while the records above
// it fill the outputs' bound; when its retry is due the lanes must still
// start it (the commit waits for it), or the outputs would wait for a
// record that waits for them. Every output is then read once.
func TestTxnOutputsBoundLetsCommitPointRun(t *testing.T) {
	r := newTxnRig(t, 1)
	r.produce(r.record(Step{Key: "first", Seq: 1}))
	const keys, perKey = 50, 10
	r.publish(keys, perKey)
	const outSize, maxBytes = 16 << 10, 1 << 20
	big := make([]byte, outSize)
	rd := r.read(t, kgo.ReadCommitted())
	var failed atomic.Bool
	c := r.consumer("txn-bound-progress", func(ctx context.Context, s Step, _ Meta) error {
		if s.Key == "first" && !failed.Swap(true) {
			return errors.New("transient: the first attempt fails")
		}
		ev, err := r.pub.Seal(ctx, keyedStep(s))
		if err != nil {
			return err
		}
		ev.Headers = append(ev.Headers, kgo.RecordHeader{Key: "pad", Value: big})
		return Emit(ctx, ev)
	}, Transactional("txn-bound-progress-1"), Concurrency(4), MaxBufferedBytes(maxBytes),
		Retry(3, 500*time.Millisecond, time.Second))
	wait := runConsumer(t, c)
	defer func() {
		c.Close()
		_ = wait()
	}()
	waitFor(t, 10*time.Second, "the outputs' bound reached while the first record waits for its retry", func() bool {
		return waitingOutputs(c) >= maxBytes/2
	})
	waitFor(t, 20*time.Second, "every output", func() bool { return rd.count() >= keys*perKey+1 })
	if err := c.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	rd.mu.Lock()
	defer rd.mu.Unlock()
	for id, n := range rd.ids {
		if n != 1 {
			t.Fatalf("event %s read %d times", id, n)
		}
	}
}
