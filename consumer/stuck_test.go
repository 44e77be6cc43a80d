package consumer

import (
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestStuckSummaryWhileBreakerOpen: while the breaker is open, every
// partition with lag stops moving for the one reason its own line gave.
// 8 partitions become stuck behind it: one WARN line counts them (not one
// per partition), and their recovery after the close is told in a line
// or two, not one per partition; Lag still flags each. Before: 8 "partition
// stuck" WARN lines and 8 "partition moving again" lines.
func TestStuckSummaryWhileBreakerOpen(t *testing.T) {
	const dlt = "steps-dlt"
	f := newFixture(t, 8)
	f.createTopic(dlt, 8)
	d := &dependency{rec: newRecorder(nil)}
	d.down.Store(true)
	var logs syncBuffer
	c := f.consumer("summary", d.handle, DeadLetterTopic(dlt), StuckAfter(200*time.Millisecond),
		WithLogger(slog.New(slog.NewTextHandler(&logs, nil))),
		Breaker(BreakerConfig{ProbeMin: 100 * time.Millisecond, ProbeMax: 400 * time.Millisecond}))
	wait := runConsumer(t, c)
	defer c.Close()
	total := f.publish(64, 2)
	waitFor(t, 30*time.Second, "the breaker to open", func() bool { return c.brk.holding() })
	waitFor(t, 30*time.Second, "every partition stuck", func() bool {
		n := 0
		for _, pl := range c.Lag() {
			if pl.Stuck {
				n++
			}
		}
		return n == 8
	})
	time.Sleep(time.Second) // more checks while open
	d.down.Store(false)
	waitFor(t, 30*time.Second, "every record handled", func() bool { return d.rec.distinct() == total })
	waitFor(t, 30*time.Second, "no partition stuck", func() bool {
		for _, pl := range c.Lag() {
			if pl.Stuck {
				return false
			}
		}
		return true
	})
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	each, summary := strings.Count(out, `msg="partition stuck"`), strings.Count(out, `msg="partitions stuck behind the open breaker"`)
	moving, movingAll := strings.Count(out, `msg="partition moving again"`), strings.Count(out, `msg="partitions moving again"`)
	t.Logf("%d per-partition stuck lines, %d summaries; %d per-partition moving lines, %d summaries:\n%s",
		each, summary, moving, movingAll, grepLines(out, "stuck")+grepLines(out, "moving"))
	if each != 0 || summary != 1 || !strings.Contains(out, "partitions=8") {
		t.Errorf("stuck behind the breaker: %d lines per partition and %d summaries, want 0 and 1 counting 8", each, summary)
	}
	if moving != 0 || movingAll < 1 || movingAll > 3 {
		t.Errorf("moving again: %d lines per partition and %d summaries, want 0 and 1 to 3", moving, movingAll)
	}
}
