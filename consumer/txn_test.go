package consumer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ordo-go/ordo/internal/header"
	"github.com/ordo-go/ordo/producer"
)

// txnRig is a fixture with an output topic, a publisher that seals
// derived events for it, and a handler that emits one derived event per
// input: the input's key and seq.
type txnRig struct {
	*fixture
	out  string
	pub  *producer.Publisher[keyedStep]
	emit atomic.Int64 // outputs emitted, attempts included
}

func newTxnRig(t testing.TB, partitions int32) *txnRig {
	t.Helper()
	f := newFixture(t, partitions)
	r := &txnRig{fixture: f, out: "derived"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := f.adm.CreateTopic(ctx, partitions, 1, nil, r.out); err != nil {
		t.Fatal(err)
	}
	p, err := producer.New(producer.Brokers(f.cluster.Brokers()...), producer.Registry(f.reg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	if r.pub, err = producer.NewPublisher(ctx, p, r.out, f.codecFor()); err != nil {
		t.Fatal(err)
	}
	return r
}

// handle emits the derived event of s.
func (r *txnRig) handle(ctx context.Context, s Step) error {
	ev, err := r.pub.Seal(ctx, keyedStep(s))
	if err != nil {
		return err
	}
	r.emit.Add(1)
	return Emit(ctx, ev)
}

// reader reads the output topic from its start with the isolation level
// given, collecting what it sees.
type reader struct {
	mu   sync.Mutex
	seqs map[string][]int64   // per key, in the order read
	ids  map[string]int       // times each event ID was read
	seen map[string]time.Time // when each event ID was first read
	n    int
}

func (r *txnRig) read(t testing.TB, iso kgo.IsolationLevel) *reader {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.cluster.Brokers()...), kgo.ConsumeTopics(r.out),
		kgo.FetchIsolationLevel(iso), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	rd := &reader{seqs: make(map[string][]int64), ids: make(map[string]int), seen: make(map[string]time.Time)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			fs.EachRecord(func(rec *kgo.Record) {
				var s Step
				if err := r.codec.Decode(rec.Value[5:], &s); err != nil {
					t.Errorf("decode output: %v", err)
					return
				}
				id, _ := header.Get(rec.Headers, header.ID)
				rd.mu.Lock()
				rd.seqs[s.Key] = append(rd.seqs[s.Key], s.Seq)
				if rd.ids[id]++; rd.ids[id] == 1 {
					rd.seen[id] = time.Now()
				}
				rd.n++
				rd.mu.Unlock()
			})
		}
	}()
	t.Cleanup(func() { cancel(); <-done; cl.Close() })
	return rd
}

func (rd *reader) count() int {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	return rd.n
}

// check fails unless every key's outputs are 1..n once each, in order.
func (rd *reader) check(t *testing.T, keys, perKey int) {
	t.Helper()
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if len(rd.seqs) != keys {
		t.Fatalf("outputs of %d keys, want %d", len(rd.seqs), keys)
	}
	for k, seqs := range rd.seqs {
		if len(seqs) != perKey {
			t.Fatalf("key %s: %d outputs, want %d (read %v)", k, len(seqs), perKey, seqs)
		}
		for i, s := range seqs {
			if s != int64(i+1) {
				t.Fatalf("key %s: output %d is seq %d, want %d: duplicated or out of order (read %v)", k, i, s, i+1, seqs)
			}
		}
	}
	for id, n := range rd.ids {
		if n != 1 {
			t.Fatalf("event %s read %d times", id, n)
		}
	}
}

// TestTxnOutputsExactlyOnce protects the plain promise: each input's
// output is read once by a read_committed reader, in per-key order, with
// the inputs handled on parallel lanes, and the group's offsets reach the
// end of the input, under both group protocols.
func TestTxnOutputsExactlyOnce(t *testing.T) {
	forEachProtocol(t, txnOutputsExactlyOnce)
}

func txnOutputsExactlyOnce(t *testing.T, p Protocol) {
	r := newTxnRig(t, 3)
	r.protocol = p
	const keys, perKey = 20, 25
	r.publish(keys, perKey)
	rd := r.read(t, kgo.ReadCommitted())
	c := r.consumer("txn-once", func(ctx context.Context, s Step, _ Meta) error { return r.handle(ctx, s) },
		Transactional("txn-once-1"), Concurrency(8))
	wait := runConsumer(t, c)
	waitFor(t, 20*time.Second, "every output", func() bool { return rd.count() >= keys*perKey })
	if err := c.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // a duplicate would arrive in this while
	rd.check(t, keys, perKey)
	total := int64(0)
	for _, off := range r.committed("txn-once") {
		total += off
	}
	if total != keys*perKey {
		t.Fatalf("committed offsets sum to %d, want %d", total, keys*perKey)
	}
}

// TestTxnOutputsWaitForPrefix protects the key-parallel rule: the
// outputs of records finished above an unfinished one are neither visible
// to read_committed readers nor even written (a read_uncommitted reader
// sees none) until it finishes; then all are, in per-key order.
func TestTxnOutputsWaitForPrefix(t *testing.T) {
	r := newTxnRig(t, 1)
	release := make(chan struct{})
	var once sync.Once
	// The first record (offset 0, key "slow") blocks; the others, of other
	// keys, finish on other lanes.
	recs := []*kgo.Record{r.record(Step{Key: "slow", Seq: 1})}
	const keys = 10
	for k := range keys {
		for s := range 5 {
			recs = append(recs, r.record(Step{Key: fmt.Sprintf("key-%02d", k), Seq: int64(s + 1)}))
		}
	}
	if err := r.cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	committedRd, uncommittedRd := r.read(t, kgo.ReadCommitted()), r.read(t, kgo.ReadUncommitted())
	c := r.consumer("txn-prefix", func(ctx context.Context, s Step, _ Meta) error {
		if s.Key == "slow" {
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return r.handle(ctx, s)
	}, Transactional("txn-prefix-1"), Concurrency(4))
	wait := runConsumer(t, c)
	defer once.Do(func() { close(release) })
	waitFor(t, 10*time.Second, "the records above the slow one", func() bool { return c.Stats().Handled == keys*5 })
	time.Sleep(time.Second) // ten commit ticks: an output that leaked would be read by now
	if n, m := committedRd.count(), uncommittedRd.count(); n != 0 || m != 0 {
		t.Fatalf("while offset 0 is unfinished, readers saw %d committed and %d uncommitted outputs, want none", n, m)
	}
	if got := r.committed("txn-prefix")[0]; got > 0 {
		t.Fatalf("committed offset %d while offset 0 is unfinished", got)
	}
	once.Do(func() { close(release) })
	waitFor(t, 10*time.Second, "every output", func() bool { return committedRd.count() >= keys*5+1 })
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	committedRd.mu.Lock()
	for k, seqs := range committedRd.seqs {
		for i, s := range seqs {
			if s != int64(i+1) {
				t.Errorf("key %s: outputs %v, want 1..%d in order", k, seqs, len(seqs))
				break
			}
		}
	}
	committedRd.mu.Unlock()
}

// TestTxnRebalance protects exactly-once across rebalances: a second
// transactional member joins mid-stream and a third replaces the first
// (Close: its last transaction, then the leave), so partitions move with
// transactions in flight; a read_committed reader
// reads each input's output once, in per-key order. Both protocols.
func TestTxnRebalance(t *testing.T) {
	forEachProtocol(t, func(t *testing.T, p Protocol) {
		r := newTxnRig(t, 6)
		r.protocol = p
		const keys, perKey = 60, 30
		r.publish(keys, perKey)
		rd := r.read(t, kgo.ReadCommitted())
		h := func(ctx context.Context, s Step, _ Meta) error {
			time.Sleep(2 * time.Millisecond)
			return r.handle(ctx, s)
		}
		member := func(id string) (*Consumer, func() error) {
			c := r.consumer("txn-rebalance", h, Transactional(id), Concurrency(4))
			return c, runConsumer(t, c)
		}
		a, waitA := member("a")
		waitFor(t, 20*time.Second, "a's first outputs", func() bool { return rd.count() >= 200 })
		b, waitB := member("b")
		waitFor(t, 20*time.Second, "outputs after b joined", func() bool { return rd.count() >= 800 })
		a.Close()
		if err := waitA(); err != nil {
			t.Fatal(err)
		}
		c, waitC := member("c")
		waitFor(t, 30*time.Second, "every output", func() bool { return rd.count() >= keys*perKey })
		for _, m := range []struct {
			c    *Consumer
			wait func() error
		}{{b, waitB}, {c, waitC}} {
			if err := m.c.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			if err := m.wait(); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(300 * time.Millisecond)
		rd.check(t, keys, perKey)
		t.Logf("%d outputs emitted for %d inputs (handled again after a move: %d)", r.emit.Load(), keys*perKey, r.emit.Load()-keys*perKey)
	})
}

// TestTxnKilledBetweenProduceAndCommit protects exactly-once across a
// crash: a member dies with a transaction's outputs written but not
// committed (its client cut off, nothing more sent), a new process with
// the same transactional ID takes its place (a restart), and a
// read_committed reader reads each input's output once, in per-key
// order: the dead member's written outputs are aborted, and their records
// handled again.
func TestTxnKilledBetweenProduceAndCommit(t *testing.T) {
	r := newTxnRig(t, 3)
	const keys, perKey = 20, 20
	r.publish(keys, perKey)
	rd, raw := r.read(t, kgo.ReadCommitted()), r.read(t, kgo.ReadUncommitted())
	h := func(ctx context.Context, s Step, _ Meta) error {
		time.Sleep(time.Millisecond) // spread the records over several transactions
		return r.handle(ctx, s)
	}
	opts := []Option{Transactional("txn-kill-1"), InstanceID("member-1"), Concurrency(4), GroupProtocol(ClassicProtocol)}
	a := r.consumer("txn-kill", h, opts...)
	killed := make(chan struct{})
	hold := make(chan struct{})
	var ends atomic.Int32
	a.commits.txn.beforeEnd = func() {
		if ends.Add(1) == 3 { // two transactions committed; the third dies before its end
			a.killClient() // the process is gone: no request leaves any more
			close(killed)
			<-hold
		}
	}
	waitA := runConsumer(t, a)
	select {
	case <-killed:
	case <-time.After(20 * time.Second):
		t.Fatal("the member never reached its third transaction")
	}
	before := rd.count()
	if before == 0 || before >= keys*perKey {
		t.Fatalf("read %d outputs before the kill, want some and not all", before)
	}
	b := r.consumer("txn-kill", func(ctx context.Context, s Step, m Meta) error { return r.handle(ctx, s) }, opts...)
	waitB := runConsumer(t, b)
	waitFor(t, 30*time.Second, "every output after the restart", func() bool { return rd.count() >= keys*perKey })
	if err := b.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := waitB(); err != nil {
		t.Fatal(err)
	}
	close(hold)
	a.Close()
	_ = waitA() // its client is gone: its stop fails
	time.Sleep(300 * time.Millisecond)
	rd.check(t, keys, perKey)
	if n := raw.count(); n <= keys*perKey {
		t.Fatalf("a read_uncommitted reader read %d outputs, want more than %d: the dead member's outputs were never written", n, keys*perKey)
	}
	t.Logf("outputs read before the kill %d, emitted in all %d (re-handled after the kill: %d)", before, r.emit.Load(), r.emit.Load()-keys*perKey)
}

// TestTxnAbortRetried protects the retry of an aborted transaction: the
// broker refuses two transactions' offset commits (REBALANCE_IN_PROGRESS,
// which kgo answers by aborting), and the outputs they held are produced
// again in a later transaction, each read once, in per-key order. The
// outputs' records were produced again with their first transaction's
// ctx, cancelled by then, and every later transaction aborted.
func TestTxnAbortRetried(t *testing.T) {
	r := newTxnRig(t, 3)
	const keys, perKey = 20, 20
	r.publish(keys, perKey)
	rd := r.read(t, kgo.ReadCommitted())
	var commits, refused atomic.Int32
	kc := r.cluster.Kafka()
	kc.ControlKey(int16(kmsg.TxnOffsetCommit), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		if n := commits.Add(1); n != 2 && n != 3 {
			return nil, nil, false
		}
		refused.Add(1)
		return refusedTxnCommit(kr.(*kmsg.TxnOffsetCommitRequest)), nil, true
	})
	c := r.consumer("txn-abort", func(ctx context.Context, s Step, _ Meta) error {
		time.Sleep(time.Millisecond) // spread the records over several transactions
		return r.handle(ctx, s)
	}, Transactional("txn-abort-1"), Concurrency(4))
	wait := runConsumer(t, c)
	waitFor(t, 20*time.Second, "every output", func() bool { return rd.count() >= keys*perKey })
	if err := c.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	rd.check(t, keys, perKey)
	if refused.Load() != 2 {
		t.Fatalf("%d offset commits refused, want 2", refused.Load())
	}
	if h := c.Stats().Handled; h != keys*perKey {
		t.Fatalf("%d records handled, want %d: an abort made the consumer handle records again", h, keys*perKey)
	}
}

// TestTxnOutputsBounded protects the memory bound: outputs waiting for
// their transaction count against MaxBufferedBytes, so while the first
// record holds the commit point the consumer stops fetching once the
// outputs of the records finished above it fill half the buffer (1 MiB,
// 1 KiB an output), instead of handling the whole backlog (4,000
// records, 4 MiB of outputs) into memory (TestTxnOutputsBoundHoldsLanes
// holds the lanes' side, for outputs much larger than their records).
func TestTxnOutputsBounded(t *testing.T) {
	r := newTxnRig(t, 1)
	if err := r.cl.ProduceSync(context.Background(), r.record(Step{Key: "slow", Seq: 1})).FirstErr(); err != nil {
		t.Fatal(err)
	}
	const n = 4000
	for i := 0; i < n; i += 100 { // batches of 100 records: a fetch is not one huge batch
		var recs []*kgo.Record
		for j := i; j < i+100; j++ {
			recs = append(recs, r.record(Step{Key: fmt.Sprintf("key-%03d", j%100), Seq: int64(j/100 + 1)}))
		}
		if err := r.cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	release := make(chan struct{})
	big := make([]byte, 1<<10)
	c := r.consumer("txn-bound", func(ctx context.Context, s Step, _ Meta) error {
		if s.Key == "slow" {
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		ev, err := r.pub.Seal(ctx, keyedStep(s))
		if err != nil {
			return err
		}
		ev.Value = big
		return Emit(ctx, ev)
	}, Transactional("txn-bound-1"), Concurrency(4), MaxBufferedBytes(1<<20))
	wait := runConsumer(t, c)
	defer func() {
		c.Close()
		_ = wait()
	}()
	handled := waitHandlingStops(t, c)
	if handled >= n/2 {
		t.Fatalf("%d of %d records handled behind the unfinished first one: their outputs (%d KiB) are not bounded by MaxBufferedBytes",
			handled, n, handled)
	}
	close(release)
	t.Logf("%d records handled behind the unfinished first one (%d KiB of outputs)", handled, handled)
}

// TestTxnCommitWaitsForRewind protects the offset commit after an abort:
// kgo rewinds its positions to the committed offsets and commits what it
// has polled, so until the poller fetches again a transaction would send
// no offset commit at all and make its outputs visible without their
// offsets. Here the partition is paused at the abort (no fetch after the
// rewind): transactions are aborted, none commits and nothing is
// visible, until the partition is resumed; then each output is read once.
func TestTxnCommitWaitsForRewind(t *testing.T) {
	r := newTxnRig(t, 1)
	const keys, perKey = 5, 10
	r.publish(keys, perKey)
	rd := r.read(t, kgo.ReadCommitted())
	var c *Consumer
	var commits atomic.Int32
	paused := make(chan int, 1)
	kc := r.cluster.Kafka()
	kc.ControlKey(int16(kmsg.TxnOffsetCommit), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		if commits.Add(1) != 2 {
			return nil, nil, false
		}
		c.Pause(r.topic)
		paused <- rd.count()
		return refusedTxnCommit(kr.(*kmsg.TxnOffsetCommitRequest)), nil, true
	})
	c = r.consumer("txn-rewind", func(ctx context.Context, s Step, _ Meta) error {
		time.Sleep(5 * time.Millisecond) // several transactions
		return r.handle(ctx, s)
	}, Transactional("txn-rewind-1"), Concurrency(1))
	wait := runConsumer(t, c)
	var before int
	select {
	case before = <-paused:
	case <-time.After(20 * time.Second):
		t.Fatal("no second transaction")
	}
	time.Sleep(time.Second) // forty ticks
	if n := rd.count(); n != before {
		t.Fatalf("while paused after the abort, %d outputs became visible (%d before)", n-before, before)
	}
	committed := r.committed("txn-rewind")[0]
	c.Resume(r.topic)
	waitFor(t, 20*time.Second, "every output", func() bool { return rd.count() >= keys*perKey })
	if err := c.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	rd.check(t, keys, perKey)
	t.Logf("%d outputs visible at the abort, offset %d committed while paused", before, committed)
}

// TestTxnOptions protects the refusal of an empty ID, and that the
// dead-letter topic is taken with and without the quarantine
// (txn_quarantine_test.go tests them together).
func TestTxnOptions(t *testing.T) {
	f := newFixture(t, 1)
	for name, opts := range map[string][]Option{
		"empty id": {Transactional("")},
	} {
		t.Run(name, func(t *testing.T) {
			base := []Option{Brokers(f.cluster.Brokers()...), Group("g"), Topics(f.topic), Registry(f.reg),
				On(f.codec, func(context.Context, Step, Meta) error { return nil })}
			if _, err := New(append(base, opts...)...); !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("New = %v, want ErrInvalidConfig", err)
			}
		})
	}
	for name, opts := range map[string][]Option{
		"dead letters with quarantine":    {DeadLetterTopic("dlq")},
		"dead letters without quarantine": {DeadLetterTopic("dlq"), ContinueAfterDeadLetter()},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := New(append([]Option{Brokers(f.cluster.Brokers()...), Group("g"), Topics(f.topic), Registry(f.reg),
				On(f.codec, func(context.Context, Step, Meta) error { return nil }), Transactional("x")}, opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			c.Close()
		})
	}
}

// TestEmitOutsideTransactional protects Emit's refusal outside a
// transactional handler.
func TestEmitOutsideTransactional(t *testing.T) {
	if err := Emit(context.Background(), producer.Sealed{}); err != ErrNotTransactional {
		t.Fatalf("Emit = %v, want ErrNotTransactional", err)
	}
}

// refusedTxnCommit answers a TxnOffsetCommit with REBALANCE_IN_PROGRESS
// for every partition it names.
func refusedTxnCommit(req *kmsg.TxnOffsetCommitRequest) *kmsg.TxnOffsetCommitResponse {
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewTxnOffsetCommitResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			sp.Partition, sp.ErrorCode = rp.Partition, kerr.RebalanceInProgress.Code
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// waitHandlingStops waits for c to handle a record, then for its handled
// count to hold still for half a second, and returns that count.
func waitHandlingStops(t *testing.T, c *Consumer) int64 {
	t.Helper()
	waitFor(t, 10*time.Second, "records handled above the slow one", func() bool { return c.Stats().Handled > 0 })
	var handled int64
	waitFor(t, 10*time.Second, "the handling to stop", func() bool {
		h := c.Stats().Handled
		time.Sleep(500 * time.Millisecond)
		handled = c.Stats().Handled
		return h == handled
	})
	return handled
}
