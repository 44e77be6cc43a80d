package consumer

import (
	"testing"
	"time"
)

// TestLagWhilePaused protects Lag for partitions the fetches say nothing
// about: a partition held by Pause while records arrive read Records 0
// (the last fetch's watermark), and one paused from the start of a run
// read -1 (no fetch, no record). Both now show the records waiting,
// within a few seconds, from the cluster's end offsets and the group's
// commit.
func TestLagWhilePaused(t *testing.T) {
	f := newFixture(t, 1)
	rec := newRecorder(nil)
	c := f.consumer("lag", rec.handle)
	wait := runConsumer(t, c)
	first := f.publish(5, 2)
	waitFor(t, 30*time.Second, "the first records handled", func() bool { return rec.distinct() == first })
	waitFor(t, 30*time.Second, "their commit", func() bool { return f.committed("lag")[0] == int64(first) })
	c.Pause(f.topic)
	more := f.publish(5, 10)
	lagIs := func(c *Consumer, want int64) func() bool {
		return func() bool {
			l := c.Lag()
			return len(l) == 1 && l[0].Paused && l[0].Records == want
		}
	}
	waitFor(t, 20*time.Second, "Lag to count the records waiting behind the pause", lagIs(c, int64(more)))
	t.Logf("paused while running: %+v", c.Lag()[0])
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}

	// A new instance paused before it ran: nothing is fetched, nothing
	// dispatched; Next is the group's commit.
	c2 := f.consumer("lag", rec.handle)
	c2.Pause(f.topic)
	wait2 := runConsumer(t, c2)
	waitFor(t, 30*time.Second, "Lag of a partition paused from the start", lagIs(c2, int64(more)))
	if l := c2.Lag()[0]; l.Next != int64(first) || l.HighWatermark != int64(first+more) {
		t.Fatalf("paused from the start: %+v, want Next %d, HighWatermark %d", l, first, first+more)
	}
	c2.Close()
	if err := wait2(); err != nil {
		t.Fatal(err)
	}
}
