package consumer

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

var (
	catchUpRounds = flag.Int("catchup.rounds", 3,
		"BenchmarkCatchUp: interleaved rounds of catch-up and plain per backlog")
	catchUpProfile = flag.String("catchup.heapprofile", "",
		"BenchmarkCatchUp: write a heap profile at each run's peak to this path prefix")
)

// BenchmarkCatchUp replays a backlog and reports the consumer's live heap
// while it does and the records handled per second. "catch-up" is a
// consumer that detects the backlog (every partition is in catch-up) and
// accounts for it, with no rate cap; "plain" has replay off
// (CatchUpThreshold(0, 0)): the two rates compare catch-up with normal
// consumption, and the live heap should not grow with the backlog.
//
// The cluster runs in a process of its own (startBrokerProcess): kfake
// holds the whole backlog in memory, which in this process would be
// counted as the consumer's. The live heap is the peak of the heap after
// a GC, sampled every 250ms, less the heap before the consumer started.
//
// Each backlog is filled once and read -catchup.rounds times by each
// variant with a new group, the variants interleaved (the first of each
// round alternating), as the machine's load drifts. Reported per backlog:
// each variant's peak live heap over the rounds (catch-up-MiB,
// plain-MiB) and the median over the rounds of each run's median sample
// (-p50-MiB), the peak of records held by the trackers (-tracked), the
// median rate from the first record handled to the last (-rec/s: the
// group's join left out), and the ratio catch-up/plain of each round's
// rates as median, min and max; join-ratio-median is the ratio's median
// with the join counted. Each variant's CPU time per record (-cpu-ns/rec)
// and cpu-ratio (plain's CPU per record over catch-up's, median, min and
// max) say the same with less noise on a shared machine. The flags go after -args:
//
//	go test -run '^$' -bench 'CatchUp/1M' -benchtime 1x -timeout 0 \
//		./consumer -args -catchup.rounds=5
func BenchmarkCatchUp(b *testing.B) {
	variants := []struct {
		name string
		opts []Option
	}{
		{"catch-up", []Option{CatchUpThreshold(1000, 0)}},
		{"plain", []Option{CatchUpThreshold(0, 0)}},
	}
	for _, backlog := range []int{250_000, 1_000_000, 4_000_000} {
		name := fmt.Sprintf("%dk", backlog/1000)
		if backlog%1_000_000 == 0 {
			name = fmt.Sprintf("%dM", backlog/1_000_000)
		}
		b.Run(name, func(b *testing.B) {
			f, brokers := startBrokerProcess(b, 64) // fetches span many partitions, as on a real topic
			f.fillUncompressed(b, brokers, backlog)
			f.cl = nil
			for b.Loop() {
				heap := make(map[string]float64)
				typical := make(map[string][]float64)
				tracked := make(map[string]int)
				rates := make(map[string][]float64)
				var ratios, joinRatios, cpuRatios []float64
				cpu := make(map[string][]float64)
				for round := range *catchUpRounds {
					order := []int{0, 1}
					if round%2 == 1 {
						order = []int{1, 0}
					}
					roundRate := make(map[string]backlogRun)
					for _, i := range order {
						v := variants[i]
						run := fmt.Sprintf("%s-%s-%d", v.name, name, round)
						res := consumeBacklog(b, f, brokers, run, backlog, v.opts...)
						if s := res.stats; v.name == "catch-up" && (s.Backlog != int64(backlog) || s.Accounted() != s.Backlog) {
							b.Fatalf("accounting: %+v", s)
						}
						heap[v.name] = max(heap[v.name], res.heap)
						typical[v.name] = append(typical[v.name], res.typical)
						tracked[v.name] = max(tracked[v.name], res.tracked)
						rates[v.name] = append(rates[v.name], res.steady)
						cpu[v.name] = append(cpu[v.name], res.cpu)
						roundRate[v.name] = res
					}
					ratios = append(ratios, roundRate["catch-up"].steady/roundRate["plain"].steady)
					joinRatios = append(joinRatios, roundRate["catch-up"].rate/roundRate["plain"].rate)
					cpuRatios = append(cpuRatios, roundRate["plain"].cpu/roundRate["catch-up"].cpu)
				}
				for _, v := range variants {
					b.ReportMetric(heap[v.name], v.name+"-MiB")
					b.ReportMetric(median(typical[v.name]), v.name+"-p50-MiB")
					b.ReportMetric(float64(tracked[v.name]), v.name+"-tracked")
					b.ReportMetric(median(rates[v.name]), v.name+"-rec/s")
					b.ReportMetric(median(cpu[v.name]), v.name+"-cpu-ns/rec")
				}
				b.ReportMetric(median(ratios), "ratio-median")
				b.ReportMetric(slices.Min(ratios), "ratio-min")
				b.ReportMetric(slices.Max(ratios), "ratio-max")
				b.ReportMetric(median(joinRatios), "join-ratio-median")
				b.ReportMetric(median(cpuRatios), "cpu-ratio-median")
				b.ReportMetric(slices.Min(cpuRatios), "cpu-ratio-min")
				b.ReportMetric(slices.Max(cpuRatios), "cpu-ratio-max")
			}
		})
	}
}

// median returns the median of xs (not empty); it sorts xs.
func median(xs []float64) float64 {
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// backlogRun is what consumeBacklog measured.
type backlogRun struct {
	heap    float64 // peak live heap less the heap before, MiB
	typical float64 // median of the samples, MiB
	rate    float64 // records handled per second, the group's join included
	steady  float64 // the same from the first record handled: the join left out
	cpu     float64 // this process's CPU time (user and system) per record, ns
	tracked int     // peak of the records the trackers held (tracker.pending)
	stats   ReplayStats
}

// consumeBacklog consumes f's backlog of n records with a new group named
// run. With -catchup.heapprofile it writes the heap profile of the peak
// sample to the prefix followed by run.
func consumeBacklog(b *testing.B, f *fixture, brokers []string, run string, n int, opts ...Option) backlogRun {
	baseline := liveHeap() // before the consumer: its whole heap is counted
	var handled, first atomic.Int64
	done := make(chan struct{})
	base := []Option{
		Brokers(brokers...), Group(run), Topics(f.topic), Registry(f.reg), Concurrency(16),
		On(f.codec, func(context.Context, Step, Meta) error {
			switch handled.Add(1) {
			case 1:
				first.Store(time.Now().UnixNano())
			case int64(n):
				close(done)
			}
			return nil
		}),
		CommitInterval(100 * time.Millisecond), WithLogger(slog.New(slog.DiscardHandler)),
	}
	c, err := New(append(base, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	var peak uint64
	var samples []float64
	var tracked int
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
				tracked = max(tracked, trackedEntries(c))
				h := liveHeap()
				samples = append(samples, float64(h-min(h, baseline))/(1<<20))
				if h > peak {
					peak = h
					writeHeapProfile(b, run)
				}
			}
		}
	}()
	cpu0 := processCPU(b)
	start := time.Now()
	wait := runConsumer(b, c)
	select {
	case <-done:
	case <-time.After(10 * time.Minute):
		c.Close()
		b.Fatalf("%s: %d of %d records handled after 10 minutes", run, handled.Load(), n)
	}
	end, cpu1 := time.Now(), processCPU(b)
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
	res := backlogRun{heap: float64(peak-min(peak, baseline)) / (1 << 20), tracked: tracked, stats: s,
		rate: float64(n) / end.Sub(start).Seconds(), steady: float64(n-1) / end.Sub(time.Unix(0, first.Load())).Seconds(),
		cpu: float64(cpu1-cpu0) / float64(n)}
	if len(samples) > 0 {
		res.typical = median(samples)
	}
	return res
}

// processCPU is the CPU time this process has used (user and system).
// The cluster runs in another process, so it is the consumer's, the
// benchmark's sampling and the test binary's; on a machine shared with
// other work it varies much less than wall-clock rates do.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// trackedEntries is the number of records c's trackers hold: dispatched
// and not yet passed by their partition's commit point. It is not bounded
// by MaxBuffered: records finished behind an unfinished one are no longer
// buffered, but wait in the tracker.
func trackedEntries(c *Consumer) int {
	c.sched.mu.Lock()
	defer c.sched.mu.Unlock()
	n := 0
	for _, ps := range c.sched.parts {
		n += ps.tracker.pending()
	}
	return n
}

// writeHeapProfile writes the heap profile as of the last GC to
// -catchup.heapprofile's prefix followed by run, if the flag is set.
func writeHeapProfile(b *testing.B, run string) {
	if *catchUpProfile == "" {
		return
	}
	// A heap profile is as of the last GC but one: another GC makes it
	// that of the sample just taken.
	runtime.GC()
	out, err := os.Create(*catchUpProfile + run + ".pprof")
	if err != nil {
		b.Error(err)
		return
	}
	defer out.Close()
	if err := pprof.WriteHeapProfile(out); err != nil {
		b.Error(err)
	}
}

// fillUncompressed writes a backlog of n records over 1000 keys to f's
// topic through a producer of its own that does not compress: payloads
// that do not compress 100-fold (these tiny, repetitive ones would) behave
// so.
func (f *fixture) fillUncompressed(b testing.TB, brokers []string, n int) {
	b.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(f.topic),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	f.cl = cl
	f.fill(b, n, 1000)
}
