package consumer

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/internal/header"
)

// TestRedrivenRecordIsNoOrderViolation protects the per-key sequence
// check from redrives: a redriven record carries the sequence number its
// producer first gave it, and lands after the key's later records. It is
// not a violation: counting it as a regression (and the key's next record
// as a gap) made every redrive fire ordo.order.violations on a consumer
// that had seen the originals (examples/orders run twice on one topic).
func TestRedrivenRecordIsNoOrderViolation(t *testing.T) {
	f := newFixture(t, 1)
	redriven := f.record(Step{Key: "key-000", Seq: 2})
	redriven.Headers = append(redriven.Headers, kgo.RecordHeader{Key: header.Redrives, Value: []byte("1")})
	f.produce(f.record(Step{Key: "key-000", Seq: 1}), f.record(Step{Key: "key-000", Seq: 2}),
		f.record(Step{Key: "key-000", Seq: 3}), redriven, f.record(Step{Key: "key-000", Seq: 4}))
	rec := newRecorder(nil)
	c := f.consumer("redrive-seq", rec.handle)
	wait := runConsumer(t, c)
	waitFor(t, 10*time.Second, "all five records", func() bool { return c.Stats().Handled == 5 })
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if got := c.Stats().OrderViolations; got != 0 {
		t.Fatalf("%d order violations, want 0: a redriven record is not out of order", got)
	}
}
