package consumer

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/internal/header"
)

// growth is a topic growing from 3 partitions to 6 under a running
// consumer while a producer publishes keyed steps without pause: the
// acknowledged records, and what the consumer handled of them.
type growth struct {
	f *fixture

	mu       sync.Mutex
	acked    []ackedStep                   // in ack order
	handled  map[int32]map[int64]time.Time // per partition and offset: when first handled
	last     map[string]int64              // per partition/key: the highest seq handled
	seen     map[string]bool               // partition/key/seq handled at least once
	reorders int                           // a new seq below one already handled on its partition

	stamp atomic.Int32 // the ordo-partitions count to stamp records with; 0: none
}

type ackedStep struct {
	partition int32
	offset    int64
	at        time.Time
}

func newGrowth(f *fixture) *growth {
	return &growth{f: f, handled: make(map[int32]map[int64]time.Time),
		last: make(map[string]int64), seen: make(map[string]bool)}
}

func (g *growth) handle(_ context.Context, s Step, m Meta) error {
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.handled[m.Partition] == nil {
		g.handled[m.Partition] = make(map[int64]time.Time)
	}
	if _, ok := g.handled[m.Partition][m.Offset]; !ok {
		g.handled[m.Partition][m.Offset] = now
	}
	pk := fmt.Sprintf("%d/%s", m.Partition, s.Key)
	id := fmt.Sprintf("%s/%d", pk, s.Seq)
	if !g.seen[id] { // a redelivery is a duplicate, not a reorder
		g.seen[id] = true
		if s.Seq < g.last[pk] {
			g.reorders++
		}
		g.last[pk] = max(g.last[pk], s.Seq)
	}
	return nil
}

// publish produces keyed steps over 100 keys in batches of 20 until ctx
// ends, recording every acknowledged record. Its client refreshes
// metadata every 100 ms, so it writes to new partitions at once, as a
// producer that has accepted the new count does.
func (g *growth) publish(ctx context.Context, t *testing.T) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(g.f.cluster.Brokers()...), kgo.DefaultProduceTopic(g.f.topic),
		kgo.MetadataMinAge(10*time.Millisecond), kgo.MetadataMaxAge(100*time.Millisecond))
	if err != nil {
		t.Error(err)
		return
	}
	defer cl.Close()
	seqs := make([]int64, 100)
	for n := 0; ctx.Err() == nil; {
		recs := make([]*kgo.Record, 20)
		for i := range recs {
			k := n % len(seqs)
			n++
			seqs[k]++
			recs[i] = g.f.record(Step{Key: fmt.Sprintf("key-%03d", k), Seq: seqs[k]})
			if n := g.stamp.Load(); n > 0 {
				recs[i].Headers = append(recs[i].Headers, kgo.RecordHeader{Key: header.Partitions, Value: []byte(strconv.Itoa(int(n)))})
			}
		}
		res := cl.ProduceSync(context.Background(), recs...)
		now := time.Now()
		g.mu.Lock()
		for _, r := range res {
			if r.Err == nil {
				g.acked = append(g.acked, ackedStep{r.Record.Partition, r.Record.Offset, now})
			}
		}
		g.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
}

// readyAt is when the consumer had handled a record on each of the
// topic's first 3 partitions: every record acknowledged after it is at a
// later offset than one the consumer handled, so it must be handled.
func (g *growth) readyAt() (time.Time, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var ready time.Time
	for p := int32(0); p < 3; p++ {
		first, ok := time.Time{}, false
		for _, at := range g.handled[p] {
			if !ok || at.Before(first) {
				first, ok = at, true
			}
		}
		if !ok {
			return time.Time{}, false
		}
		if first.After(ready) {
			ready = first
		}
	}
	return ready, true
}

// missing counts the records acknowledged after ready (all of them on
// the new partitions) that were not handled, of how many, the same on
// the new partitions alone, and the longest a new partition's first record waited to be handled (or until
// now, if it has not been).
func (g *growth) missing(ready time.Time) (lost, owed, owedNew, lostNew int, wait time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	firstAck := make(map[int32]ackedStep)
	for _, a := range g.acked {
		if a.partition < 3 && !a.at.After(ready) {
			continue
		}
		owed++
		if a.partition >= 3 {
			owedNew++
		}
		if _, ok := g.handled[a.partition][a.offset]; !ok {
			lost++
			if a.partition >= 3 {
				lostNew++
			}
		}
		if f, ok := firstAck[a.partition]; a.partition >= 3 && (!ok || a.offset < f.offset) {
			firstAck[a.partition] = a
		}
	}
	for p, a := range firstAck {
		at, ok := g.handled[p][a.offset]
		if !ok {
			at = time.Now()
		}
		wait = max(wait, at.Sub(a.at))
	}
	return lost, owed, owedNew, lostNew, wait
}

// runGrowth runs a consumer with opts while the topic grows from 3 to 6
// partitions under a running producer, and checks that every record
// acknowledged after the consumer was ready is handled, in per-key order,
// and that each new partition's first record is handled within bound of
// being written.
func runGrowth(t *testing.T, p Protocol, stamp bool, bound time.Duration, opts ...Option) {
	f := newFixture(t, 3)
	f.protocol = p
	g := newGrowth(f)
	if stamp {
		g.stamp.Store(3)
	}
	c := f.consumer("grow", g.handle, opts...)
	defer c.Close()
	wait := runConsumer(t, c)
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); g.publish(ctx, t) }()
	defer func() { stop(); wg.Wait() }()

	var ready time.Time
	waitFor(t, 30*time.Second, "the consumer to handle a record on each partition", func() bool {
		var ok bool
		ready, ok = g.readyAt()
		return ok
	})
	time.Sleep(500 * time.Millisecond)
	grown := time.Now()
	resp, err := f.adm.CreatePartitions(context.Background(), 3, f.topic)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("grow the topic: %v", err)
	}
	if stamp {
		g.stamp.Store(6) // the producer has accepted the new count
	}
	time.Sleep(3 * time.Second) // the producer writes to the new partitions meanwhile
	stop()
	wg.Wait()

	deadline := grown.Add(bound + 5*time.Second)
	var lost, owed, owedNew, lostNew int
	var longest time.Duration
	for {
		lost, owed, owedNew, lostNew, longest = g.missing(ready)
		if lost == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := c.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := wait(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	g.mu.Lock()
	reorders := g.reorders
	g.mu.Unlock()
	t.Logf("%d records owed, %d lost; on the new partitions %d owed, %d lost; a new partition's first record waited at most %v",
		owed, lost, owedNew, lostNew, longest.Round(time.Millisecond))
	if owedNew == 0 {
		t.Fatal("nothing was written to the new partitions")
	}
	if lost != 0 {
		t.Fatalf("%d of %d acknowledged records never handled (%d on the new partitions)", lost, owed, lostNew)
	}
	if longest > bound {
		t.Fatalf("a new partition's first record waited %v to be handled, want at most %v", longest, bound)
	}
	if reorders != 0 {
		t.Fatalf("%d records handled before an earlier record of their key on their partition", reorders)
	}
}

// growBound is how long a new partition's first record may wait to be
// handled: DefaultMetadataMaxAge (5 s) for the group's leader to see the
// partition, up to a heartbeat interval (3 s) for it to rejoin, and a
// rebalance; 8 s measured, the rest is for a busy machine.
const growBound = 20 * time.Second

// TestGrownTopicStartAtEnd protects issue 19's loss: under StartAtEnd, a
// partition added after the group started is read from its start, so no
// acknowledged record written to it before the consumer noticed it is
// lost (the old code lost every one: 4,651 of 9,880), and it is noticed
// within growBound, not at franz-go's 5-minute metadata refresh.
func TestGrownTopicStartAtEnd(t *testing.T) {
	forEachProtocol(t, func(t *testing.T, p Protocol) {
		runGrowth(t, p, false, growBound, StartAtEnd())
	})
}

// TestGrownTopicDiscovery protects the default start's latency: new
// partitions are read within growBound, not at franz-go's 5-minute
// metadata refresh (the old code: none of 4,432 records on them handled
// 20 s after the growth).
func TestGrownTopicDiscovery(t *testing.T) {
	runGrowth(t, ClassicProtocol, false, growBound)
}

// TestGrownTopicStamp protects the stamp's signal: with the metadata
// refresh an hour away, a record stamped with a partition count the
// consumer has not seen refreshes the metadata, and the new partitions
// are read within growBound.
func TestGrownTopicStamp(t *testing.T) {
	runGrowth(t, ClassicProtocol, true, growBound, MetadataMaxAge(time.Hour))
}

// TestStartAtEndSkipsHistory protects StartAtEnd's own promise next to
// the growth rule: the partitions the topic had when the consumer started
// start at their end, so none of the records written before it is handled.
func TestStartAtEndSkipsHistory(t *testing.T) {
	forEachProtocol(t, func(t *testing.T, p Protocol) {
		f := newFixture(t, 3)
		f.protocol = p
		f.publish(30, 10) // seqs 1..10 of each key: history
		rec := newRecorder(nil)
		c := f.consumer("history", rec.handle, StartAtEnd())
		defer c.Close()
		wait := runConsumer(t, c)
		waitFor(t, 30*time.Second, "records written after the start to be handled", func() bool {
			f.publish(30, 1)
			return rec.distinct() > 0
		})
		if err := c.Shutdown(context.Background()); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		if err := wait(); err != nil {
			t.Fatalf("Run: %v", err)
		}
		rec.mu.Lock()
		defer rec.mu.Unlock()
		for key, seqs := range rec.handled {
			for seq := range seqs {
				if seq <= 10 {
					t.Fatalf("%s's step %d, written before the consumer started, was handled", key, seq)
				}
			}
		}
	})
}

// TestStartAtEndRestartAfterGrowth protects the growth rule across a
// restart: partitions added while the whole group was down have no commit
// in a topic the group has committed on, so the restarted consumer reads
// them from their start (the first version of the fix, which knew only
// its own first look, skipped all 1,760 records written to them), and the
// old partitions resume from their commits.
func TestStartAtEndRestartAfterGrowth(t *testing.T) {
	f := newFixture(t, 3)
	g := newGrowth(f)
	publishFor := func(d time.Duration) {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		g.publish(ctx, t)
	}
	run := func(until func() bool) {
		c := f.consumer("restart", g.handle, StartAtEnd())
		defer c.Close()
		wait := runConsumer(t, c)
		waitFor(t, 30*time.Second, "the consumer to catch up", func() bool {
			publishFor(20 * time.Millisecond)
			return until()
		})
		if err := c.Shutdown(context.Background()); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		if err := wait(); err != nil {
			t.Fatalf("Run: %v", err)
		}
	}
	run(func() bool { _, ok := g.readyAt(); return ok })

	resp, err := f.adm.CreatePartitions(context.Background(), 3, f.topic)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("grow the topic: %v", err)
	}
	g.mu.Lock()
	from := len(g.acked)
	g.mu.Unlock()
	publishFor(time.Second) // while the group is down
	g.mu.Lock()
	down := append([]ackedStep(nil), g.acked[from:]...)
	g.mu.Unlock()

	missing := func() (old, added int) {
		g.mu.Lock()
		defer g.mu.Unlock()
		for _, a := range down {
			if _, ok := g.handled[a.partition][a.offset]; ok {
				continue
			}
			if a.partition < 3 {
				old++
			} else {
				added++
			}
		}
		return old, added
	}
	deadline := time.Now().Add(20 * time.Second)
	run(func() bool {
		old, added := missing()
		return old+added == 0 || time.Now().After(deadline)
	})
	var added int
	for _, a := range down {
		if a.partition >= 3 {
			added++
		}
	}
	if old, lost := missing(); old+lost != 0 || added == 0 {
		t.Fatalf("written while the group was down: %d records, %d on the new partitions; not handled after the restart: %d on the old partitions, %d on the new",
			len(down), added, old, lost)
	}
	t.Logf("written while the group was down: %d records, %d on the new partitions; all handled after the restart", len(down), added)
}

// TestStartAtEndCommitsItsStart protects what the restart rule rests on:
// a StartAtEnd consumer commits where it starts each partition at once,
// records or not, so after a restart a partition with no commit is a new
// one. Without it a quiet partition had no commit, and would read as new.
func TestStartAtEndCommitsItsStart(t *testing.T) {
	forEachProtocol(t, func(t *testing.T, p Protocol) {
		f := newFixture(t, 3)
		f.protocol = p
		f.publish(30, 10) // steps 1..10 of each key: history
		ends, err := f.adm.ListEndOffsets(context.Background(), f.topic)
		if err != nil {
			t.Fatal(err)
		}
		rec := newRecorder(nil)
		c := f.consumer("starts", rec.handle, StartAtEnd())
		wait := runConsumer(t, c)
		waitFor(t, 20*time.Second, "a commit on each quiet partition", func() bool { return len(f.committed("starts")) == 3 })
		c.Close()
		if err := wait(); err != nil {
			t.Fatal(err)
		}
		for p, at := range f.committed("starts") {
			if end, _ := ends.Lookup(f.topic, p); at != end.Offset {
				t.Fatalf("partition %d committed at %d, want its end %d", p, at, end.Offset)
			}
		}
		f.publish(30, 1) // step 11, while the group is down
		c = f.consumer("starts", rec.handle, StartAtEnd())
		defer c.Close()
		wait = runConsumer(t, c)
		waitFor(t, 20*time.Second, "the steps written while down", func() bool { return rec.distinct() == 30 })
		if err := c.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := wait(); err != nil {
			t.Fatal(err)
		}
		rec.mu.Lock()
		defer rec.mu.Unlock()
		for key, seqs := range rec.handled {
			for seq := range seqs {
				if seq != 11 {
					t.Fatalf("%s's step %d handled, want only step 11", key, seq)
				}
			}
		}
	})
}

// TestStartAtEndFirstGeneration protects members that start together:
// another member's start commits (made as its partitions start at their
// end) do not make this member's uncommitted partitions look new, so it
// does not read their history. Counting every commit did.
func TestStartAtEndFirstGeneration(t *testing.T) {
	f := newFixture(t, 3)
	f.publish(30, 10) // steps 1..10 of each key: history
	ends, err := f.adm.ListEndOffsets(context.Background(), f.topic)
	if err != nil {
		t.Fatal(err)
	}
	// What a member of the same first generation commits as it starts
	// partitions 0 and 1 at their end.
	starts := make(kadm.Offsets)
	for p := int32(0); p < 2; p++ {
		end, _ := ends.Lookup(f.topic, p)
		starts.Add(kadm.Offset{Topic: f.topic, Partition: p, At: end.Offset, LeaderEpoch: -1, Metadata: startTag})
	}
	if resp, err := f.adm.CommitOffsets(context.Background(), "firstgen", starts); err != nil || resp.Error() != nil {
		t.Fatalf("commit the other member's starts: %v, %v", err, resp.Error())
	}
	rec := newRecorder(nil)
	c := f.consumer("firstgen", rec.handle, StartAtEnd())
	defer c.Close()
	wait := runConsumer(t, c)
	waitFor(t, 20*time.Second, "records written after the start on every partition", func() bool {
		f.publish(30, 1)
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return len(rec.finished) == 3
	})
	if err := c.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for key, seqs := range rec.handled {
		for seq := range seqs {
			if seq <= 10 {
				t.Fatalf("%s's step %d, written before the group started, was handled", key, seq)
			}
		}
	}
}
