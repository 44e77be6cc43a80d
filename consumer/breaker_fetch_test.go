package consumer

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// fetchMeter counts what kgo reads from fetch responses.
type fetchMeter struct{ batches, bytes atomic.Int64 }

var _ kgo.HookFetchBatchRead = (*fetchMeter)(nil)

func (m *fetchMeter) OnFetchBatchRead(_ kgo.BrokerMetadata, _ string, _ int32, b kgo.FetchBatchMetrics) {
	m.batches.Add(1)
	m.bytes.Add(int64(b.UncompressedBytes))
}

// TestBreakerPausesFetch: while the breaker is open, the consumed topics'
// fetch is paused. 2,000 records published while it is open are not
// fetched (kgo reads no batch, the consumer polls none, what it holds
// stays what it held at the opening) while Lag shows them waiting; after
// the close every record is handled, in order, none dead-lettered. The
// buffer's cap is set far above the traffic, so that only the pause, not
// the cap, can stop the fetching (before, the consumer fetched and
// buffered all 2,000 while open). The probes, meanwhile, take records
// already buffered.
func TestBreakerPausesFetch(t *testing.T) {
	const dlt = "steps-dlt"
	f := newFixture(t, 4)
	f.createTopic(dlt, 4)
	d := &dependency{rec: newRecorder(nil)}
	d.down.Store(true)
	var meter fetchMeter
	c := f.consumer("pause-fetch", d.handle, DeadLetterTopic(dlt), MaxBuffered(100_000), MaxBufferedBytes(256<<20),
		Breaker(BreakerConfig{ProbeMin: 100 * time.Millisecond, ProbeMax: 400 * time.Millisecond}),
		KgoOpts(kgo.WithHooks(&meter), kgo.FetchMaxWait(100*time.Millisecond)))
	wait := runConsumer(t, c)
	defer c.Close()
	f.publish(20, 3)
	waitFor(t, 30*time.Second, "the breaker to open", func() bool { return c.brk.holding() })
	time.Sleep(time.Second) // a fetch in flight at the opening ends (FetchMaxWait 100ms)
	bytes0, batches0, fetched0, held0 := meter.bytes.Load(), meter.batches.Load(), c.Stats().Fetched, heldNow(c)

	for range 4 { // 2,000 records over 2 s, while the probes fail
		f.publish(500, 1)
		time.Sleep(500 * time.Millisecond)
	}
	waitFor(t, 30*time.Second, "Lag to show the records published while open", func() bool {
		var n int64
		for _, pl := range c.Lag() {
			n += max(pl.Records, 0)
		}
		return n >= 2000
	})
	probes := c.brk.b.Snapshot().Probes
	bytes1, batches1, fetched1, held1 := meter.bytes.Load(), meter.batches.Load(), c.Stats().Fetched, heldNow(c)
	t.Logf("while open: kgo read %d batches (%d bytes) before the 2,000 records and %d (%d bytes) after; "+
		"the consumer polled %d then %d records, held %d then %d bytes; %d probes failed",
		batches0, bytes0, batches1-batches0, bytes1-bytes0, fetched0, fetched1, held0, held1, probes)
	if bytes1 != bytes0 || fetched1 != fetched0 {
		t.Errorf("while open, kgo read %d more bytes and the consumer polled %d more records, want 0 and 0: the fetch was not paused",
			bytes1-bytes0, fetched1-fetched0)
	}
	if held1 > held0 {
		t.Errorf("while open, what the consumer holds grew from %d to %d bytes", held0, held1)
	}
	if probes < 1 || !c.brk.holding() {
		t.Errorf("%d probes failed (want some, on buffered records), the breaker holding: %v", probes, c.brk.holding())
	}

	d.down.Store(false)
	waitFor(t, 60*time.Second, "every record handled after the close", func() bool { return d.rec.distinct() == 2060 })
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.DeadLettered != 0 || d.outOfOrder() != 0 {
		t.Errorf("%d dead-lettered, %d keys out of order, want 0", st.DeadLettered, d.outOfOrder())
	}
	if meter.bytes.Load() == bytes1 {
		t.Error("nothing was fetched after the close")
	}
}

// heldNow is what the consumer's buffered records hold (heldBytes).
func heldNow(c *Consumer) int {
	c.sched.mu.Lock()
	defer c.sched.mu.Unlock()
	return c.sched.heldBytes()
}
