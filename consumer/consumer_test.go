package consumer

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ordo-go/ordo/schema"
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(brokerProcessEnv); spec != "" {
		serveBrokerProcess(spec) // a benchmark's broker (broker_test.go)
	}
	goleak.VerifyTestMain(m)
}

// TestOrderedParallel is the property test of the consumer's core promise:
// thousands of records over hundreds of keys, random handler latency, more
// lanes than partitions. Every record is handled exactly once (no restart
// happens here), each key's records are handled in order and never two at
// once, and the committed offsets never pass a record whose handler has not
// returned.
func TestOrderedParallel(t *testing.T) {
	const partitions, keys, perKey = 4, 300, 15
	f := newFixture(t, partitions)
	total := f.publish(keys, perKey)

	rng := struct {
		sync.Mutex
		*rand.Rand
	}{Rand: rand.New(rand.NewPCG(3, 4))}
	rec := newRecorder(func() time.Duration {
		rng.Lock()
		defer rng.Unlock()
		return time.Duration(rng.IntN(2000)) * time.Microsecond
	})
	c := f.consumer("ordered", rec.handle, Concurrency(32))
	wait := runConsumer(t, c)

	// While it runs, check the commit rule from the outside: read the
	// committed offsets first, then what has finished; every offset below
	// a committed one must already have finished.
	stopCheck := make(chan struct{})
	checked := make(chan int)
	go func() {
		n := 0
		defer func() { checked <- n }()
		for {
			select {
			case <-stopCheck:
				return
			case <-time.After(20 * time.Millisecond):
			}
			committed := f.committed("ordered")
			rec.mu.Lock()
			for p, at := range committed {
				for off := int64(0); off < at; off++ {
					if !rec.finished[p][off] {
						t.Errorf("partition %d committed at %d but offset %d has not finished", p, at, off)
					}
				}
			}
			rec.mu.Unlock()
			n++
		}
	}()

	waitFor(t, 60*time.Second, "all records handled", func() bool { return rec.distinct() == total })
	close(stopCheck)
	if n := <-checked; n < 3 {
		t.Errorf("commit rule checked only %d times", n)
	}
	if err := c.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}

	for key, seqs := range rec.seqs {
		if len(seqs) != perKey {
			t.Fatalf("key %s handled %d times, want %d", key, len(seqs), perKey)
		}
		for i, s := range seqs {
			if s != int64(i+1) {
				t.Fatalf("key %s handled out of order: %v", key, seqs)
			}
		}
	}
	if rec.overlaps != 0 {
		t.Fatalf("%d times a key ran on two lanes at once", rec.overlaps)
	}
	if rec.max <= partitions {
		t.Fatalf("at most %d handlers ran at once: lanes did not exceed partitions (%d)", rec.max, partitions)
	}
	// After a clean shutdown everything is committed.
	var sum int64
	for _, at := range f.committed("ordered") {
		sum += at
	}
	if sum != int64(total) {
		t.Fatalf("committed offsets sum to %d, want %d", sum, total)
	}
	if st := c.Stats(); st.Handled != int64(total) || st.OrderViolations != 0 {
		t.Fatalf("stats = %+v", st)
	}
}

// TestRestartWithoutShutdown stops a consumer mid-stream with Close and
// starts another in the same group: nothing is lost, and the only records
// handled twice are ones the first consumer finished after its last commit.
func TestRestartWithoutShutdown(t *testing.T) { forEachProtocol(t, testRestartWithoutShutdown) }

func testRestartWithoutShutdown(t *testing.T, proto Protocol) {
	const keys, perKey = 100, 20
	f := newFixture(t, 3)
	f.protocol = proto
	total := f.publish(keys, perKey)

	first := newRecorder(func() time.Duration { return time.Millisecond })
	c1 := f.consumer("restart", first.handle, Concurrency(8), CommitInterval(time.Hour))
	wait1 := runConsumer(t, c1)
	waitFor(t, 30*time.Second, "first consumer to get halfway", func() bool { return first.distinct() >= total/2 })
	c1.Close()
	if err := wait1(); err != nil {
		t.Fatal(err)
	}
	committed := f.committed("restart")

	second := newRecorder(nil)
	c2 := f.consumer("restart", second.handle, Concurrency(8))
	wait2 := runConsumer(t, c2)
	waitFor(t, 30*time.Second, "second consumer to finish the rest", func() bool {
		first.mu.Lock()
		defer first.mu.Unlock()
		second.mu.Lock()
		defer second.mu.Unlock()
		n := 0
		for key, seqs := range first.handled {
			n += len(seqs)
			for s := range second.handled[key] {
				if seqs[s] == 0 {
					n++
				}
			}
		}
		for key, seqs := range second.handled {
			if first.handled[key] == nil {
				n += len(seqs)
			}
		}
		return n == total
	})
	c2.Close()
	if err := wait2(); err != nil {
		t.Fatal(err)
	}

	dups := 0
	for p, offs := range second.finished {
		for off := range offs {
			if first.finished[p][off] {
				dups++
				if off < committed[p] {
					t.Fatalf("offset %d of partition %d handled again though committed at %d", off, p, committed[p])
				}
			}
		}
	}
	t.Logf("%d of %d records handled by both consumers; committed at close: %v", dups, total, committed)
	for key, seqs := range second.seqs {
		for i := 1; i < len(seqs); i++ {
			if seqs[i] != seqs[i-1]+1 {
				t.Fatalf("second consumer handled key %s out of order: %v", key, seqs)
			}
		}
	}
}

// TestRebalance runs three members that join and leave during the stream:
// no record is lost, and each key's records are handled in order across the
// hand-offs (a record may be handled again, but never one ahead of a record
// not yet handled).
func TestRebalance(t *testing.T) { forEachProtocol(t, testRebalance) }

func testRebalance(t *testing.T, proto Protocol) {
	const keys, perKey = 200, 12
	f := newFixture(t, 6)
	f.protocol = proto
	rec := newRecorder(func() time.Duration { return 500 * time.Microsecond })
	var (
		mu    sync.Mutex
		order = make(map[string]int64) // highest seq handled per key
		gaps  []string
	)
	h := func(ctx context.Context, s Step, m Meta) error {
		if err := rec.handle(ctx, s, m); err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		if s.Seq > order[s.Key]+1 {
			gaps = append(gaps, s.Key)
		}
		order[s.Key] = max(order[s.Key], s.Seq)
		return nil
	}
	opts := []Option{Concurrency(8), DrainTimeout(10 * time.Second)}
	a := f.consumer("rebalance", h, opts...)
	waitA := runConsumer(t, a)
	total := f.publish(keys, perKey/2)

	b := f.consumer("rebalance", h, opts...)
	waitB := runConsumer(t, b)
	total += f.publish(keys, perKey/2)
	c := f.consumer("rebalance", h, opts...)
	waitC := runConsumer(t, c)
	time.Sleep(200 * time.Millisecond)
	if err := a.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := waitA(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "every record handled", func() bool { return rec.distinct() == total })
	for _, cons := range []*Consumer{b, c} {
		cons.Close()
	}
	for _, w := range []func() error{waitB, waitC} {
		if err := w(); err != nil {
			t.Fatal(err)
		}
	}
	if rec.overlaps != 0 {
		t.Fatalf("%d times a key ran on two members or lanes at once", rec.overlaps)
	}
	if len(gaps) > 0 {
		t.Fatalf("keys handled ahead of an unhandled record: %v", gaps[:min(len(gaps), 5)])
	}
}

// TestRetryDoesNotBlockOtherKeys: a key whose handler fails waits (with its
// later records behind it) while other keys flow, then succeeds in order.
func TestRetryDoesNotBlockOtherKeys(t *testing.T) {
	f := newFixture(t, 1) // one partition: only key-parallelism can help
	f.publish(20, 5)
	var (
		mu        sync.Mutex
		failures  int
		badOrder  []int64
		othersAt  time.Time
		badDoneAt time.Time
		others    int
	)
	h := func(ctx context.Context, s Step, m Meta) error {
		mu.Lock()
		defer mu.Unlock()
		if s.Key == "key-000" {
			if s.Seq == 1 && failures < 3 {
				failures++
				return errors.New("downstream says no")
			}
			badOrder = append(badOrder, s.Seq)
			if s.Seq == 5 {
				badDoneAt = time.Now()
			}
			return nil
		}
		others++
		if others == 19*5 {
			othersAt = time.Now()
		}
		return nil
	}
	c := f.consumer("retry", h, Concurrency(4), Retry(5, 50*time.Millisecond, 100*time.Millisecond))
	wait := runConsumer(t, c)
	waitFor(t, 20*time.Second, "all keys done", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(badOrder) == 5 && others == 19*5
	})
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	for i, s := range badOrder {
		if s != int64(i+1) {
			t.Fatalf("retried key handled out of order: %v", badOrder)
		}
	}
	if !othersAt.Before(badDoneAt) {
		t.Fatalf("other keys finished at %v, after the retrying key (%v): they were blocked", othersAt, badDoneAt)
	}
	if st := c.Stats(); st.Retries != 3 {
		t.Fatalf("retries = %d, want 3", st.Retries)
	}
}

// TestPanicIsRetried: a panicking handler is a failed attempt, not a crash.
func TestPanicIsRetried(t *testing.T) {
	f := newFixture(t, 1)
	f.publish(1, 1)
	var calls int
	var mu sync.Mutex
	h := func(ctx context.Context, s Step, m Meta) error {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			panic("boom")
		}
		return nil
	}
	c := f.consumer("panic", h, Retry(3, time.Millisecond, time.Millisecond))
	wait := runConsumer(t, c)
	waitFor(t, 10*time.Second, "the retry", func() bool { return c.Stats().Handled == 1 })
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if calls != 2 {
		t.Fatalf("handler called %d times, want 2", calls)
	}
}

var _ = schema.ErrUnknownSchema

// TestCommitWaitsForSlowKey pins the commit rule down deterministically:
// while the oldest record's handler is still running, every later record
// of other keys finishes, yet nothing past the slow record is committed.
func TestCommitWaitsForSlowKey(t *testing.T) {
	f := newFixture(t, 1)
	f.produceRaw("slow", f.record(Step{Key: "slow", Seq: 1}).Value) // offset 0
	total := 1 + f.publish(20, 3)
	release := make(chan struct{})
	rec := newRecorder(nil)
	h := func(ctx context.Context, s Step, m Meta) error {
		if s.Key == "slow" {
			<-release
		}
		return rec.handle(ctx, s, m)
	}
	c := f.consumer("slowkey", h, Concurrency(4))
	wait := runConsumer(t, c)
	waitFor(t, 10*time.Second, "the fast keys", func() bool { return rec.distinct() == total-1 })
	time.Sleep(300 * time.Millisecond) // three commit intervals
	if got := f.committed("slowkey")[0]; got != 0 {
		t.Fatalf("committed %d while offset 0 is unfinished", got)
	}
	close(release)
	waitFor(t, 10*time.Second, "commit of everything", func() bool { return f.committed("slowkey")[0] == int64(total) })
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
}
