package consumer

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkPipeline measures what Transactional costs: the same 100,000
// records (1,000 keys on 6 partitions), each handled by emitting one
// derived event, read by a read_committed reader, under three consumers:
//
//   - seal-only: the plain consumer, sealing the output and dropping it
//     (the handling and framing, without any output written);
//   - publish: the plain consumer publishing each output in the handler
//     (Publisher.Publish, waiting for the acknowledgement): at least
//     once, duplicates after a crash or a rebalance;
//   - transactional: Transactional and Emit: exactly once, with the
//     tests' CommitInterval of 100 ms (a transaction every 25 ms);
//   - transactional-1s: the same with the default CommitInterval (1 s:
//     a transaction every 250 ms).
//
// It reports rec/s (first record handled to last output read, or to the
// last record handled for seal-only), and the latency to visibility: from
// the output's Emit or Publish to a read_committed reader reading it,
// p50 and p99 in ms. Run with -benchtime=1x (one pass each takes a few
// seconds).
func BenchmarkPipeline(b *testing.B) {
	for _, mode := range []string{"seal-only", "publish", "transactional", "transactional-1s"} {
		b.Run(mode, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				benchPipeline(b, mode, i)
			}
		})
	}
}

func benchPipeline(b *testing.B, mode string, round int) {
	b.StopTimer()
	r := newTxnRig(b, benchPartitions)
	const keys, perKey = 1000, 100
	r.publish(keys, perKey)
	rd := r.read(b, kgo.ReadCommitted())
	var (
		mu    sync.Mutex
		sent  = make(map[string]time.Time, keys*perKey)
		first time.Time
	)
	stamp := func(id string) {
		mu.Lock()
		if first.IsZero() {
			first = time.Now()
		}
		sent[id] = time.Now()
		mu.Unlock()
	}
	h := func(ctx context.Context, s Step, _ Meta) error {
		ev, err := r.pub.Seal(ctx, keyedStep(s))
		if err != nil {
			return err
		}
		stamp(ev.EventID)
		switch mode {
		case "publish":
			_, err = r.pub.Publish(ctx, keyedStep(s))
		case "transactional", "transactional-1s":
			err = Emit(ctx, ev)
		}
		return err
	}
	var opts []Option
	if mode != "seal-only" && mode != "publish" {
		opts = append(opts, Transactional(fmt.Sprintf("bench-%d", round)))
	}
	if mode == "transactional-1s" {
		opts = append(opts, CommitInterval(time.Second)) // the default: the fixture's is 100 ms
	}
	c := r.consumer(fmt.Sprintf("bench-%s-%d", mode, round), h, opts...)
	b.StartTimer()
	wait := runConsumer(b, c)
	n := keys * perKey
	done := func() bool { return rd.count() >= n }
	if mode == "seal-only" {
		done = func() bool { return c.Stats().Handled >= int64(n) }
	}
	waitFor(b, 2*time.Minute, "every record", done)
	end := time.Now()
	b.StopTimer()
	c.Close()
	if err := wait(); err != nil {
		b.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	b.ReportMetric(float64(n)/end.Sub(first).Seconds(), "rec/s")
	if mode == "seal-only" {
		return
	}
	// publish's event IDs are the Publisher's, not the sealed ones: its
	// latency is from the handler's seal to the reader, the same start.
	lat := visibility(rd, sent, mode == "publish")
	b.ReportMetric(lat[len(lat)/2], "p50-ms")
	b.ReportMetric(lat[len(lat)*99/100], "p99-ms")
}

// visibility returns the sorted latencies in ms from sent to read. For
// outputs whose IDs differ from the sealed ones (byKey), it pairs each
// key's n-th read with its n-th sealed, in order.
func visibility(rd *reader, sent map[string]time.Time, byOrder bool) []float64 {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	var lat []float64
	if !byOrder {
		for id, at := range rd.seen {
			if s, ok := sent[id]; ok {
				lat = append(lat, float64(at.Sub(s).Microseconds())/1000)
			}
		}
	} else {
		var ss, rs []time.Time
		for _, t := range sent {
			ss = append(ss, t)
		}
		for _, t := range rd.seen {
			rs = append(rs, t)
		}
		slices.SortFunc(ss, func(a, b time.Time) int { return a.Compare(b) })
		slices.SortFunc(rs, func(a, b time.Time) int { return a.Compare(b) })
		for i := range min(len(ss), len(rs)) {
			lat = append(lat, float64(rs[i].Sub(ss[i]).Microseconds())/1000)
		}
	}
	slices.Sort(lat)
	return lat
}
