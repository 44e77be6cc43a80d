package consumer

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/schema"
)

// The benchmarks report ns per record and records/s. Compare variants of
// one benchmark within one run (benchstat), never across machines.

// fill produces n framed Step records over keys keys, in batches.
func (f *fixture) fill(b testing.TB, n, keys int) {
	b.Helper()
	const batch = 5000
	for done := 0; done < n; {
		m := min(batch, n-done)
		recs := make([]*kgo.Record, m)
		for i := range recs {
			k := (done + i) % keys
			recs[i] = f.record(Step{Key: "key-" + strconv.Itoa(k), Seq: int64((done+i)/keys + 1)})
		}
		if err := f.cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			b.Fatal(err)
		}
		done += m
	}
}

// BenchmarkConsume compares ordo's consumer with a raw franz-go group
// consumer doing the same Avro decoding by hand and committing after each
// poll: the budget is ordo >= 0.90 of raw.
func BenchmarkConsume(b *testing.B) {
	b.Run("raw", func(b *testing.B) {
		f := newFixture(b, 6)
		f.fill(b, b.N, 1000)
		cl, err := kgo.NewClient(kgo.SeedBrokers(f.cluster.Brokers()...), kgo.ConsumerGroup("raw"),
			kgo.ConsumeTopics(f.topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if err != nil {
			b.Fatal(err)
		}
		defer cl.Close()
		b.ReportAllocs()
		b.ResetTimer()
		start := time.Now()
		for n := 0; n < b.N; {
			fs := cl.PollFetches(context.Background())
			fs.EachRecord(func(r *kgo.Record) {
				id, body, err := schema.Unframe(r.Value)
				if err != nil || id != f.id {
					b.Fatal(err)
				}
				var s Step
				if err := f.codec.Decode(body, &s); err != nil {
					b.Fatal(err)
				}
				n++
			})
			cl.MarkCommitRecords(fs.Records()...)
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
	})
	for _, lanes := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("ordo/lanes=%d", lanes), func(b *testing.B) { benchOrdoConsume(b, lanes) })
	}
}

func benchOrdoConsume(b *testing.B, lanes int) {
	{
		f := newFixture(b, 6)
		f.fill(b, b.N, 1000)
		var n atomic.Int64
		done := make(chan struct{})
		c := f.consumer("ordo", func(context.Context, Step, Meta) error {
			if n.Add(1) == int64(b.N) {
				close(done)
			}
			return nil
		}, Concurrency(lanes))
		b.ReportAllocs()
		b.ResetTimer()
		start := time.Now()
		go c.Run(context.Background())
		<-done
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
		b.StopTimer()
		c.Close()
	}
}

// BenchmarkLanes measures key-parallelism on one partition with a 1ms
// handler: the budget is 64 lanes >= 50x one lane. Records per second
// from the first record handled to the last.
func BenchmarkLanes(b *testing.B) {
	for _, lanes := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("lanes=%d", lanes), func(b *testing.B) {
			f := newFixture(b, 1)
			f.fill(b, b.N, 512)
			var n atomic.Int64
			var first atomic.Pointer[time.Time]
			done := make(chan struct{})
			c := f.consumer("lanes", func(context.Context, Step, Meta) error {
				if first.Load() == nil {
					now := time.Now()
					first.CompareAndSwap(nil, &now)
				}
				time.Sleep(time.Millisecond)
				if n.Add(1) == int64(b.N) {
					close(done)
				}
				return nil
			}, Concurrency(lanes))
			b.ResetTimer()
			go c.Run(context.Background())
			<-done
			// From the first record handled: the group join is not
			// key-parallelism, and it took a fifth of the 64-lane run.
			b.ReportMetric(float64(b.N)/time.Since(*first.Load()).Seconds(), "records/s")
			b.StopTimer()
			c.Close()
		})
	}
}

// quiet is the benchmarks' logger: a benchmark prints nothing but its
// results, or benchstat cannot parse them.
var quiet = slog.New(slog.DiscardHandler)

// BenchmarkBacklogMemory consumes a backlog of 1M records and reports the
// consumer's live heap while it does: the peak of the heap after a GC,
// sampled every 250ms, less the heap before the consumer started (the
// embedded cluster holds the backlog in the same process; the fetch
// responses it builds, which grow with the fetch limits, are counted).
// Run it with -benchtime 1x; each iteration consumes the whole backlog.
// "kgo-defaults" restores franz-go's fetch sizes, as before
// MaxBufferedBytes: on 64 partitions, ~565 live-MiB against ~112.
func BenchmarkBacklogMemory(b *testing.B) {
	const backlog = 1_000_000
	variants := []struct {
		name string
		opts []Option
	}{
		{"default", nil},
		{"kgo-defaults", []Option{KgoOpts(kgo.FetchMaxBytes(50<<20), kgo.MaxConcurrentFetches(-1))}},
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			f := newFixture(b, 64) // fetches span many partitions, as on a real topic
			f.fillUncompressed(b, f.cluster.Brokers(), backlog)
			for i := 0; b.Loop(); i++ {
				base := liveHeap()
				var n atomic.Int64
				done := make(chan struct{})
				c := f.consumer(fmt.Sprintf("memory-%d", i), func(context.Context, Step, Meta) error {
					if n.Add(1) == backlog {
						close(done)
					}
					return nil
				}, append([]Option{Concurrency(16)}, v.opts...)...)
				var peak uint64
				stopSample := make(chan struct{})
				sampled := make(chan struct{})
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
				c.Close()
				if err := wait(); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(peak-min(peak, base))/(1<<20), "live-MiB")
				b.ReportMetric(float64(backlog)/elapsed.Seconds(), "records/s")
			}
		})
	}
}

// liveHeap is the heap in use after a full GC.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
