package consumer

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkCatchUp replays a backlog and reports the consumer's live heap
// while it does (the peak of the heap after a GC, sampled every 250ms,
// less the heap before the consumer started: the embedded cluster holds
// the backlog in the same process) and the records handled per second.
// "catch-up" is a consumer that detects the backlog (every partition is
// in catch-up) and accounts for it, with no rate cap; "plain" has replay
// off (CatchUpThreshold(0, 0)): the two rates compare catch-up with
// normal consumption. The live heap should not grow with the backlog.
// Run it with -benchtime 1x, and pick backlogs with -bench, e.g.
// -bench 'CatchUp/.*/250k'.
func BenchmarkCatchUp(b *testing.B) {
	parent := b
	for _, backlog := range []int{250_000, 1_000_000, 4_000_000} {
		name := fmt.Sprintf("%dk", backlog/1000)
		f := (*fixture)(nil)
		for _, v := range []struct {
			name string
			opts []Option
		}{
			{"catch-up", []Option{CatchUpThreshold(1000, 0)}},
			{"plain", []Option{CatchUpThreshold(0, 0)}},
		} {
			b.Run(v.name+"/"+name, func(b *testing.B) {
				if f == nil { // one backlog for both variants, living as long as the parent
					f = newFixture(parent, 64)
					cl, err := kgo.NewClient(kgo.SeedBrokers(f.cluster.Brokers()...), kgo.DefaultProduceTopic(f.topic),
						kgo.ProducerBatchCompression(kgo.NoCompression()))
					if err != nil {
						b.Fatal(err)
					}
					f.cl = cl
					f.fill(b, backlog, 1000)
					cl.Close()
				}
				for b.Loop() {
					peak, rate, s := consumeBacklog(b, f, fmt.Sprintf("%s-%s-%d", v.name, name, benchGroups.Add(1)), backlog, v.opts...)
					if v.name == "catch-up" && (s.Backlog != int64(backlog) || s.Accounted() != s.Backlog) {
						b.Fatalf("accounting: %+v", s)
					}
					b.ReportMetric(peak, "live-MiB")
					b.ReportMetric(rate, "records/s")
				}
			})
		}
	}
}

// benchGroups numbers the benchmark's groups: each run reads the backlog
// from the start.
var benchGroups atomic.Int64

// consumeBacklog consumes f's backlog of n records with a new group and
// returns the peak live heap (MiB), the rate and the replay stats.
func consumeBacklog(b *testing.B, f *fixture, group string, n int, opts ...Option) (float64, float64, ReplayStats) {
	base := liveHeap()
	var handled atomic.Int64
	done := make(chan struct{})
	c := f.consumer(group, func(context.Context, Step, Meta) error {
		if handled.Add(1) == int64(n) {
			close(done)
		}
		return nil
	}, append([]Option{Concurrency(16)}, opts...)...)
	var peak uint64
	stopSample, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopSample:
				return
			case <-t.C:
				peak = max(peak, liveHeap())
			}
		}
	}()
	start := time.Now()
	wait := runConsumer(b, c)
	<-done
	elapsed := time.Since(start)
	close(stopSample)
	<-sampled
	var s ReplayStats
	if c.gate != nil {
		deadline := time.Now().Add(10 * time.Second)
		for s = c.ReplayStats(); s.Active > 0 && time.Now().Before(deadline); s = c.ReplayStats() {
			time.Sleep(50 * time.Millisecond)
		}
	}
	c.Close()
	if err := wait(); err != nil {
		b.Fatal(err)
	}
	return float64(peak-min(peak, base)) / (1 << 20), float64(n) / elapsed.Seconds(), s
}
