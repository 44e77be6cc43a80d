package consumer

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestHeldBytesBoundTrackers protects memory behind a retrying key: the
// records its partition's other keys finish meanwhile wait in the tracker
// until the commit point passes them, and they count against
// MaxBufferedBytes, so the consumer stops taking records at the bound
// instead of remembering an entry per record for as long as the key
// retries. Once the key succeeds, every record is handled.
func TestHeldBytesBoundTrackers(t *testing.T) {
	const (
		total    = 40_000
		maxBytes = 1 << 20
	)
	f := newFixture(t, 1)
	f.publishAt(total, 100, nil)
	var (
		release  = make(chan struct{})
		once     sync.Once
		handled  atomic.Int64
		attempts atomic.Int64
	)
	h := func(_ context.Context, s Step, _ Meta) error {
		if s.Key == "key-000" && s.Seq == 1 {
			select {
			case <-release:
			default:
				attempts.Add(1)
				return errors.New("downstream of key-000 is down")
			}
		}
		handled.Add(1)
		return nil
	}
	c := f.consumer("held", h, MaxBufferedBytes(maxBytes), Retry(1000, 20*time.Millisecond, 50*time.Millisecond),
		CatchUpThreshold(0, 0))
	wait := runConsumer(t, c)
	bound := maxBytes/2/trackEntrySize + 1
	peak := 0
	var stalledAt int64
	for deadline := time.Now().Add(30 * time.Second); stalledAt == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("no stall: %d handled of %d with key-000 failing", handled.Load(), total)
		}
		before := handled.Load()
		for range 10 {
			time.Sleep(20 * time.Millisecond)
			c.sched.mu.Lock()
			peak = max(peak, c.sched.tracked)
			c.sched.mu.Unlock()
		}
		if n := handled.Load(); n == before && n > 0 && attempts.Load() > 1 {
			stalledAt = n
		}
	}
	once.Do(func() { close(release) })
	waitFor(t, 30*time.Second, "every record", func() bool { return handled.Load() == total })
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	t.Logf("stalled at %d handled, tracked peak %d, bound %d", stalledAt, peak, bound)
	if peak > bound {
		t.Fatalf("trackers held %d records, want at most %d (MaxBufferedBytes/2 at %d bytes each)", peak, bound, trackEntrySize)
	}
	if stalledAt >= total-1 {
		t.Fatalf("stalled only at %d of %d: the bound never applied", stalledAt, total)
	}
}

// heldRatio and heldFixed are the live-heap guarantee MaxBufferedBytes
// documents: at most heldRatio × MaxBufferedBytes + heldFixed of live
// heap for the records the consumer holds, however large the backlog and
// whatever the records carry.
const (
	heldRatio = 2
	heldFixed = 8 << 20
)

// heapSampler samples the live heap (markedHeap) every 5ms (the runs are
// short) until stopped, and keeps the peak. What the consumer
// holds is the peak less the heap without it: the lower of the heap
// before the consumer started and after it closed, each after two GCs
// (the first only moves sync.Pool contents aside, such as the buffers of
// the producer that filled the backlog).
type heapSampler struct {
	base    uint64
	peak    atomic.Uint64
	stop    chan struct{}
	stopped sync.Once
	ended   chan struct{}
}

// sampleHeap starts sampling; the sampling ends at stopSampling, or when
// t ends.
func sampleHeap(t *testing.T) *heapSampler {
	s := &heapSampler{base: settledHeap(), stop: make(chan struct{}), ended: make(chan struct{})}
	// What earlier tests left (clients closing, their goroutines ending)
	// may still be let go: wait, up to a second, for the heap to settle,
	// so that it is not counted in the first samples.
	for range 20 {
		time.Sleep(50 * time.Millisecond)
		h := settledHeap()
		if h+256<<10 > s.base {
			s.base = min(s.base, h)
			break
		}
		s.base = h
	}
	t.Cleanup(s.stopSampling)
	go func() {
		defer close(s.ended)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-tick.C:
				if h := markedHeap(); h > s.peak.Load() {
					s.peak.Store(h)
				}
			}
		}
	}()
	return s
}

// stopSampling ends the sampling.
func (s *heapSampler) stopSampling() {
	s.stopped.Do(func() { close(s.stop) })
	<-s.ended
}

// held returns the peak above the heap without the consumer; call it
// after the consumer is closed.
func (s *heapSampler) held() uint64 {
	base := min(s.base, settledHeap())
	return s.peak.Load() - min(s.peak.Load(), base)
}

// settledHeap is the live heap after two GCs.
func settledHeap() uint64 {
	runtime.GC()
	return markedHeap()
}

// markedHeap runs a GC and returns the heap it found live
// (/gc/heap/live:bytes): unlike HeapAlloc after a GC, it leaves out what
// other goroutines allocated since the GC marked, which in a replay is
// megabytes of garbage to be.
func markedHeap() uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// checkHeld fails t when peak is over the documented bound for maxBytes.
func checkHeld(t *testing.T, what string, peak uint64, maxBytes int) {
	t.Helper()
	bound := uint64(heldRatio*maxBytes + heldFixed)
	t.Logf("%s: peak live heap %.1fMiB at MaxBufferedBytes %dMiB (%.2fx), bound %.0fMiB",
		what, float64(peak)/(1<<20), maxBytes>>20, float64(peak)/float64(maxBytes), float64(bound)/(1<<20))
	if peak > bound {
		t.Fatalf("%s: live heap peaked at %.1fMiB, want at most %dx MaxBufferedBytes + %dMiB = %.0fMiB",
			what, float64(peak)/(1<<20), heldRatio, heldFixed>>20, float64(bound)/(1<<20))
	}
}

// TestHeldBytesCountHeaders protects MaxBufferedBytes from records heavy
// with headers: 300 records of 10,000 small headers each (~70KB on the
// wire, ~450KB decoded: franz-go's RecordHeader is 40 bytes and its key
// a string of its own), a quarter of them queued behind a key whose
// first record is blocked. The records a consumer holds count their
// headers, so the poller stops at the bound and the live heap stays
// within the documented ratio of it; counted as key and value only, they
// held ~219MiB at a 4MiB bound in the run. Once the key is
// released, every record is handled.
func TestHeldBytesCountHeaders(t *testing.T) {
	const (
		total    = 300
		headers  = 10_000
		maxBytes = 4 << 20
	)
	f, brokers := startBrokerProcess(t, 1)
	fillHeaders(t, f, brokers, total, headers)

	release := make(chan struct{})
	var handled atomic.Int64
	h := func(ctx context.Context, s Step, _ Meta) error {
		if s.Key == "slow" && s.Seq == 1 {
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		handled.Add(1)
		return nil
	}
	c, err := New(Brokers(brokers...), Group("headers"), Topics(f.topic), Registry(f.reg), On(f.codec, h),
		MaxBufferedBytes(maxBytes), CatchUpThreshold(0, 0), WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close) // a failure before the end: the blocked handler's ctx ends
	heap := sampleHeap(t)
	wait := runConsumer(t, c)
	stalled := waitStall(t, &handled, total)
	heap.stopSampling()
	close(release)
	waitFor(t, 60*time.Second, "every record", func() bool { return handled.Load() == total })
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	t.Logf("stalled at %d of %d handled", stalled, total)
	checkHeld(t, "10,000 headers a record behind a blocked key", heap.held(), maxBytes)
}

// fillHeaders writes n records with the given number of small headers
// each to f's topic, a quarter of them of key "slow" (seq 1, 2, ...),
// one record per batch. The records are garbage when it returns: the
// caller's heap baseline does not count them.
func fillHeaders(t *testing.T, f *fixture, brokers []string, n, headers int) {
	t.Helper()
	// One record per batch: Kafka returns a batch larger than the fetch
	// limits whole, which the bound cannot help (MaxBufferedBytes says so).
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(f.topic),
		kgo.ProducerBatchMaxBytes(100<<10), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	hs := make([]kgo.RecordHeader, headers)
	for i := range hs {
		hs[i] = kgo.RecordHeader{Key: strconv.Itoa(i), Value: []byte("v")}
	}
	recs := make([]*kgo.Record, n)
	for i := range recs {
		key := "slow"
		if i%4 != 0 {
			key = "fast-" + strconv.Itoa(i%4)
		}
		r := f.record(Step{Key: key, Seq: int64(i/4 + 1)})
		r.Headers = append(r.Headers, hs...)
		recs[i] = r
	}
	err = cl.ProduceSync(context.Background(), recs...).FirstErr()
	cl.Close()
	if err != nil {
		t.Fatal(err)
	}
}

// waitStall waits until handled stops growing for half a second with
// fewer than total handled (the blocked key's records hold the buffer),
// and returns the count it stalled at.
func waitStall(t *testing.T, handled *atomic.Int64, total int64) int64 {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for last, since := int64(-1), time.Now(); ; time.Sleep(50 * time.Millisecond) {
		n := handled.Load()
		switch {
		case n == total:
			t.Fatalf("all %d records handled with a key blocked", total)
		case time.Now().After(deadline):
			t.Fatalf("no stall after 60s: %d of %d handled", n, total)
		case n != last:
			last, since = n, time.Now()
		case n > 0 && time.Since(since) > 500*time.Millisecond:
			return n
		}
	}
}

// TestHeldBytesReplayRatio protects the live-heap guarantee
// MaxBufferedBytes documents in a replay: a backlog of 200,000 small
// records over 64 partitions at an 8MiB bound, and 300 records of 10,000
// small headers each at a 4MiB bound, each consumed whole while the live
// heap is sampled. The 200k replay peaked at 1.65x the bound.
func TestHeldBytesReplayRatio(t *testing.T) {
	t.Run("200k", func(t *testing.T) {
		const total, maxBytes = 200_000, 8 << 20
		f, brokers := startBrokerProcess(t, 64)
		f.fillUncompressed(t, brokers, total)
		f.cl = nil
		checkHeld(t, "a 200k replay", replayPeak(t, f, brokers, total, maxBytes), maxBytes)
	})
	t.Run("headers", func(t *testing.T) {
		const total, maxBytes = 300, 4 << 20
		f, brokers := startBrokerProcess(t, 1)
		fillHeaders(t, f, brokers, total, 10_000)
		checkHeld(t, "a replay of records of 10,000 headers", replayPeak(t, f, brokers, total, maxBytes), maxBytes)
	})
}

// replayPeak consumes f's backlog of total records with a new consumer at
// MaxBufferedBytes maxBytes and returns the peak of its live heap.
func replayPeak(t *testing.T, f *fixture, brokers []string, total, maxBytes int) uint64 {
	t.Helper()
	var handled atomic.Int64
	h := func(context.Context, Step, Meta) error { handled.Add(1); return nil }
	c, err := New(Brokers(brokers...), Group("replay"), Topics(f.topic), Registry(f.reg), On(f.codec, h),
		MaxBufferedBytes(maxBytes), Concurrency(16), WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	heap := sampleHeap(t)
	wait := runConsumer(t, c)
	waitFor(t, 2*time.Minute, "every record", func() bool { return handled.Load() == int64(total) })
	heap.stopSampling()
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	return heap.held()
}

// TestHeldBytesSlowKeyBatches protects MaxBufferedBytes from the batches
// a waiting record keeps alive: 200,000 small records over 1,000 keys in
// batches of thousands, one key blocked at its first record. franz-go
// decodes a batch into one slab whose records point into the batch's
// bytes, so each queued record of the blocked key kept its whole batch
// (~1MiB) while counting its own ~0.7KiB: 44MiB at an 8MiB bound. The
// records of a key that lags are copied out of their batch
// (detachIfWaiting), and the live heap stays within the documented ratio.
func TestHeldBytesSlowKeyBatches(t *testing.T) {
	const total, maxBytes = 200_000, 8 << 20
	f, brokers := startBrokerProcess(t, 1)
	f.fillUncompressed(t, brokers, total)
	f.cl = nil
	release := make(chan struct{})
	var handled atomic.Int64
	h := func(ctx context.Context, s Step, _ Meta) error {
		if s.Key == "key-7" && s.Seq == 1 {
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		handled.Add(1)
		return nil
	}
	c, err := New(Brokers(brokers...), Group("batches"), Topics(f.topic), Registry(f.reg), On(f.codec, h),
		MaxBufferedBytes(maxBytes), CatchUpThreshold(0, 0), Concurrency(16), WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close) // a failure before the end: the blocked handler's ctx ends
	heap := sampleHeap(t)
	wait := runConsumer(t, c)
	stalled := waitStall(t, &handled, total)
	heap.stopSampling()
	close(release)
	waitFor(t, 60*time.Second, "every record", func() bool { return handled.Load() == total })
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	t.Logf("stalled at %d of %d handled", stalled, total)
	checkHeld(t, "a blocked key among 1,000 in batches of thousands", heap.held(), maxBytes)
}

// TestDetachKeepsTheRecord protects what a copied record carries: the
// same key, value, headers and coordinates, nil staying nil and empty
// staying empty (a nil key is keyless, a nil value a tombstone), in a
// buffer of its own.
func TestDetachKeepsTheRecord(t *testing.T) {
	batch := []byte("keyvalueh1")
	r := &kgo.Record{Key: batch[0:3], Value: batch[3:8], Topic: "t", Partition: 3, Offset: 42, LeaderEpoch: 7,
		Headers:   []kgo.RecordHeader{{Key: "a", Value: batch[8:10]}, {Key: "b", Value: nil}, {Key: "c", Value: []byte{}}},
		Timestamp: time.UnixMilli(5)}
	d := detach(r)
	batch[0], batch[3], batch[8] = 'X', 'X', 'X' // the batch's bytes are reused: the copy must not see it
	if string(d.Key) != "key" || string(d.Value) != "value" || string(d.Headers[0].Value) != "h1" {
		t.Fatalf("copy shares the batch's bytes: key %q value %q header %q", d.Key, d.Value, d.Headers[0].Value)
	}
	if d.Headers[1].Value != nil || d.Headers[2].Value == nil || len(d.Headers[2].Value) != 0 {
		t.Fatalf("nil and empty header values not kept: %#v", d.Headers)
	}
	if d.Topic != "t" || d.Partition != 3 || d.Offset != 42 || d.LeaderEpoch != 7 || !d.Timestamp.Equal(time.UnixMilli(5)) || d == r {
		t.Fatalf("coordinates not kept: %+v", d)
	}
	if tomb := detach(&kgo.Record{}); tomb.Key != nil || tomb.Value != nil {
		t.Fatalf("nil key or value became non-nil: %#v", tomb)
	}
}
