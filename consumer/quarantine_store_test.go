package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ordo-go/ordo/consumer/dlq"
	"github.com/ordo-go/ordo/internal/quarantine"
)

// poisonKeys writes one unreadable record for each of n keys
// ("key-000000"...), in batches, and waits for them.
func (f *fixture) poisonKeys(n int) {
	f.t.Helper()
	const batch = 10_000
	for done := 0; done < n; done += batch {
		recs := make([]*kgo.Record, 0, batch)
		for i := done; i < min(done+batch, n); i++ {
			recs = append(recs, &kgo.Record{Key: fmt.Appendf(nil, "key-%06d", i), Value: []byte("not avro")})
		}
		f.produce(recs...)
	}
}

// partSets returns the quarantine sets of c's partitions.
func partSets(c *Consumer) []*quarantine.Set {
	c.sched.mu.Lock()
	defer c.sched.mu.Unlock()
	var sets []*quarantine.Set
	for _, ps := range c.sched.parts {
		sets = append(sets, ps.q)
	}
	return sets
}

// setBytesPerKey measures the live heap sets, the only references left
// to them (their consumer stopped), take per key: the heap with them,
// less the heap once they are dropped.
func setBytesPerKey(sets *[]*quarantine.Set, keys int) float64 {
	with := stillHeap()
	*sets = nil
	without := stillHeap()
	return float64(int64(with)-int64(without)) / float64(keys)
}

// stillHeap is the live heap once the goroutines a stopped consumer
// leaves (its clients closing) have let go of what they held: two
// readings 100 ms apart within 64 KiB, or the last of 50.
func stillHeap() uint64 {
	last := liveHeap()
	for range 50 {
		time.Sleep(100 * time.Millisecond)
		h := liveHeap()
		if max(h, last)-min(h, last) < 64<<10 {
			return h
		}
		last = h
	}
	return last
}

// TestQuarantine100kKeysSurviveRestart is issue 21's scale through the
// real consumer: 100,000 keys of one partition dead-lettered (poison), so
// 100,000 quarantined, committed through the store; a new consumer of
// the group (a restart) dead-letters their later records as quarantined,
// in order, behind the right dead letter, and handles fresh keys. It
// measures the restored set's memory per key against consumer/doc.go's
// figure.
func TestQuarantine100kKeysSurviveRestart(t *testing.T) {
	const n = 100_000
	f := newFixture(t, 1)
	f.createTopic(dlt, 1)
	f.poisonKeys(n)
	c := f.consumer("q100k", newRecorder(nil).handle, DeadLetterTopic(dlt), Concurrency(64))
	wait := runConsumer(t, c)
	begin := time.Now()
	waitFor(t, 2*time.Minute, "100,000 dead letters committed", func() bool { return f.committed("q100k")[0] == n })
	t.Logf("dead-lettered and quarantined %d keys in %v", n, time.Since(begin).Round(time.Millisecond))
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if s := c.Stats(); s.DeadLettered != n || s.Handled != 0 {
		t.Fatalf("stats %+v, want %d dead-lettered", s, n)
	}

	// Later records: two of every 100th key (their order must hold), and
	// fresh keys that must be handled.
	var later []*kgo.Record
	for i := 0; i < n; i += 100 {
		for seq := int64(1); seq <= 2; seq++ {
			r := f.record(Step{Key: fmt.Sprintf("key-%06d", i), Seq: seq})
			later = append(later, r)
		}
	}
	for i := range 100 {
		later = append(later, f.record(Step{Key: fmt.Sprintf("fresh-%03d", i), Seq: 1}))
	}
	f.produce(later...)
	rec := newRecorder(nil)
	c = f.consumer("q100k", rec.handle, DeadLetterTopic(dlt), Concurrency(64))
	wait = runConsumer(t, c)
	waitFor(t, time.Minute, "the later records dead-lettered, the fresh handled", func() bool {
		s := c.Stats()
		return s.DeadLettered == 2*n/100 && s.Handled == 100
	})
	waitFor(t, 30*time.Second, "the commit past them", func() bool { return f.committed("q100k")[0] == int64(n+len(later)) })
	sets := partSets(c)
	if len(sets) != 1 || sets[0].Len() != n {
		t.Fatalf("restored sets %v, want one of %d keys", sets, n)
	}
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	perKey := setBytesPerKey(&sets, n)
	t.Logf("restored set: %.1f bytes of live heap per quarantined key", perKey)
	if perKey > maxQuarantineBytesPerKey {
		t.Fatalf("%.1f bytes per quarantined key, consumer/doc.go says under %d", perKey, maxQuarantineBytesPerKey)
	}
	if s := c.Stats(); s.Handled != 100 {
		t.Fatalf("stats after restart %+v: want only the 100 fresh keys handled", s)
	}
	seen := make(map[string]int64)
	for _, d := range f.readTopic(dlt, n+2*n/100)[n:] {
		info, err := dlq.Parse(d)
		if err != nil || info.Reason != dlq.Quarantined {
			t.Fatalf("dead letter after restart: %+v (%v), want quarantined", info, err)
		}
		var k int64
		fmt.Sscanf(string(d.Key), "key-%06d", &k)
		if info.QuarantineOffset != k {
			t.Fatalf("%s quarantined behind offset %d, want its poison's %d", d.Key, info.QuarantineOffset, k)
		}
		if info.Offset <= seen[string(d.Key)] {
			t.Fatalf("%s dead-lettered out of order: offset %d after %d", d.Key, info.Offset, seen[string(d.Key)])
		}
		seen[string(d.Key)] = info.Offset
	}
}

// maxQuarantineBytesPerKey is consumer/doc.go's bound on the live heap a
// restored quarantine set takes per key.
const maxQuarantineBytesPerKey = 66

// TestQuarantineFullHalts protects the bound: a dead letter whose key
// would exceed QuarantineMaxKeys halts the consumer with
// ErrQuarantineFull, said once, its record's offset not committed, and
// the key's later record is not handled; a restart with a larger bound
// dead-letters the record again and quarantines the key.
func TestQuarantineFullHalts(t *testing.T) {
	f := newFixture(t, 1)
	f.createTopic(dlt, 1)
	f.poisonKeys(4)                                      // offsets 0-3
	f.produce(f.record(Step{Key: "key-000003", Seq: 1})) // 4: behind the fourth poison
	f.produce(f.record(Step{Key: "fresh", Seq: 1}))      // 5
	var logs syncBuffer
	rec := newRecorder(nil)
	c := f.consumer("qfull", rec.handle, DeadLetterTopic(dlt), QuarantineMaxKeys(3), Concurrency(1), // one lane: the fourth key is the one refused
		WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	wait := runConsumer(t, c)
	err := wait()
	if !errors.Is(err, ErrQuarantineFull) || !strings.Contains(err.Error(), "steps/0 at offset 3") {
		t.Fatalf("Run = %v, want ErrQuarantineFull at steps/0 offset 3", err)
	}
	if got := f.committed("qfull")[0]; got > 3 {
		t.Fatalf("committed %d: past the dead letter that found the quarantine full", got)
	}
	rec.mu.Lock()
	if len(rec.seqs["key-000003"]) != 0 {
		t.Fatalf("key-000003's later record was handled: %v", rec.seqs["key-000003"])
	}
	rec.mu.Unlock()
	if k := strings.Count(logs.String(), "quarantine full"); k != 1 || c.Stats().QuarantineFull != 1 {
		t.Fatalf("said %d times, counted %d; want once", k, c.Stats().QuarantineFull)
	}

	c = f.consumer("qfull", rec.handle, DeadLetterTopic(dlt), QuarantineMaxKeys(10))
	wait = runConsumer(t, c)
	waitFor(t, 10*time.Second, "fresh handled", func() bool { return c.Stats().Handled == 1 })
	waitFor(t, 10*time.Second, "the commit past it", func() bool { return f.committed("qfull")[0] == 6 })
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if s := f.quarantined("qfull", 0); s.Len() != 4 {
		t.Fatalf("%d keys quarantined, want 4", s.Len())
	}
	last := f.readTopic(dlt, 6)
	if info, _ := dlq.Parse(last[len(last)-1]); info.Offset != 4 || info.Reason != dlq.Quarantined || info.QuarantineOffset != 3 {
		t.Fatalf("last dead letter %+v, want offset 4 quarantined behind 3", info)
	}
}

// TestQuarantineUpgradeFromMetadata: a group whose committed offset
// still carries an older consumer's quarantine set in its metadata (q1)
// keeps it: the set is merged into the store at assignment, the key's
// later record is dead-lettered as quarantined, and the consumer's commit
// clears the metadata. No commit fails on the way, the leave's included.
func TestQuarantineUpgradeFromMetadata(t *testing.T) {
	f := newFixture(t, 1)
	f.createTopic(dlt, 1)
	f.produce(f.record(Step{Key: "old", Seq: 1}), f.record(Step{Key: "old", Seq: 2}), f.record(Step{Key: "other", Seq: 1}))
	old, _ := quarantine.New(0)
	if err := old.Start([]byte("old"), 0); err != nil {
		t.Fatal(err)
	}
	var os kadm.Offsets
	os.Add(kadm.Offset{Topic: f.topic, Partition: 0, At: 1, LeaderEpoch: -1, Metadata: old.Encode()})
	if resp, err := f.adm.CommitOffsets(context.Background(), "upgrade", os); err != nil || resp.Error() != nil {
		t.Fatalf("commit the old set: %v %v", err, resp.Error())
	}
	rec := newRecorder(nil)
	var logs syncBuffer
	c := f.consumer("upgrade", rec.handle, DeadLetterTopic(dlt), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	wait := runConsumer(t, c)
	waitFor(t, 10*time.Second, "the commit past the records", func() bool { return f.committed("upgrade")[0] == 3 })
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if s := c.Stats(); s.DeadLettered != 1 || s.Handled != 1 {
		t.Fatalf("stats %+v, want old's second record dead-lettered and other's handled", s)
	}
	if strings.Contains(logs.String(), "failed") { // the leave's revoke commits after the final one: the store must still be open
		t.Fatalf("a commit failed:\n%s", logs.String())
	}
	if info, _ := dlq.Parse(f.readTopic(dlt, 1)[0]); info.Reason != dlq.Quarantined || info.QuarantineOffset != 0 {
		t.Fatalf("dead letter %+v, want quarantined behind offset 0", info)
	}
	if s := f.quarantined("upgrade", 0); s.Len() != 1 {
		t.Fatalf("store holds %d keys, want the merged one", s.Len())
	}
	resp, err := f.adm.FetchOffsetsForTopics(context.Background(), "upgrade", f.topic)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := resp.Lookup(f.topic, 0); o.Metadata != "" {
		t.Fatalf("commit metadata %q, want empty: the store holds the set", o.Metadata)
	}
	store := quarantine.TopicFor("upgrade")
	tds, err := f.adm.ListTopics(context.Background(), store)
	if err != nil || len(tds[store].Partitions) != minStorePartitions {
		t.Fatalf("store topic %s: %d partitions (%v), want %d", store, len(tds[store].Partitions), err, minStorePartitions)
	}
}

// TestQuarantineStoreRefused: a store topic that cannot be created (no
// CREATE right) or is not compacted fails Run with ErrQuarantineStore,
// naming the topic, and the right needed.
func TestQuarantineStoreRefused(t *testing.T) {
	t.Run("unauthorised", func(t *testing.T) {
		f := newFixture(t, 1)
		f.createTopic(dlt, 1)
		kc := f.cluster.Kafka()
		kc.ControlKey(int16(kmsg.CreateTopics), func(kr kmsg.Request) (kmsg.Response, error, bool) {
			kc.KeepControl()
			req := kr.(*kmsg.CreateTopicsRequest)
			resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
			for _, rt := range req.Topics {
				st := kmsg.NewCreateTopicsResponseTopic()
				st.Topic, st.ErrorCode = rt.Topic, kerr.TopicAuthorizationFailed.Code
				resp.Topics = append(resp.Topics, st)
			}
			return resp, nil, true
		})
		f.produce(f.record(Step{Key: "k", Seq: 1}))
		c := f.consumer("acl", newRecorder(nil).handle, DeadLetterTopic(dlt))
		err := runConsumer(t, c)()
		if !errors.Is(err, ErrQuarantineStore) || !strings.Contains(err.Error(), `"acl.ordo-quarantine"`) || !strings.Contains(err.Error(), "CREATE") {
			t.Fatalf("Run = %v, want ErrQuarantineStore naming acl.ordo-quarantine and CREATE", err)
		}
	})
	t.Run("not compacted", func(t *testing.T) {
		f := newFixture(t, 1)
		f.createTopic(dlt, 1)
		f.createTopic("mine", 1)
		f.produce(f.record(Step{Key: "k", Seq: 1}))
		c := f.consumer("named", newRecorder(nil).handle, DeadLetterTopic(dlt), QuarantineTopic("mine"))
		err := runConsumer(t, c)()
		if !errors.Is(err, ErrQuarantineStore) || !errors.Is(err, quarantine.ErrStoreTopic) || !strings.Contains(err.Error(), `"mine"`) {
			t.Fatalf("Run = %v, want ErrQuarantineStore naming mine", err)
		}
	})
}

// owned is the number of partitions c owns now.
func owned(c *Consumer) int {
	c.sched.mu.Lock()
	defer c.sched.mu.Unlock()
	return len(c.sched.parts)
}

// TestQuarantineSurvivesRebalance: keys quarantined by one member on two
// partitions stay quarantined when a second member joins and takes one
// partition over: the later records of every key are dead-lettered as
// quarantined, by whichever member owns the key's partition then, none
// handled.
func TestQuarantineSurvivesRebalance(t *testing.T) {
	const keys = 40
	f := newFixture(t, 2)
	f.createTopic(dlt, 1)
	f.poisonKeys(keys)
	recA, recB := newRecorder(nil), newRecorder(nil)
	a := f.consumer("qreb", recA.handle, DeadLetterTopic(dlt))
	waitA := runConsumer(t, a)
	waitFor(t, 10*time.Second, "the poison dead-lettered and committed", func() bool {
		c := f.committed("qreb")
		return a.Stats().DeadLettered == keys && c[0]+c[1] == keys
	})
	b := f.consumer("qreb", recB.handle, DeadLetterTopic(dlt))
	waitB := runConsumer(t, b)
	waitFor(t, 20*time.Second, "a partition each", func() bool { return owned(a) == 1 && owned(b) == 1 })
	var later []*kgo.Record
	for i := range keys {
		later = append(later, f.record(Step{Key: fmt.Sprintf("key-%06d", i), Seq: 1}))
	}
	f.produce(later...)
	waitFor(t, 10*time.Second, "the later records dead-lettered", func() bool {
		return a.Stats().DeadLettered+b.Stats().DeadLettered == 2*keys
	})
	if b.Stats().DeadLettered == 0 || a.Stats().Handled+b.Stats().Handled != 0 {
		t.Fatalf("after the rebalance: a %+v, b %+v; want b to dead-letter its partition's keys, nothing handled", a.Stats(), b.Stats())
	}
	a.Close()
	b.Close()
	if err := errors.Join(waitA(), waitB()); err != nil {
		t.Fatal(err)
	}
	for _, d := range f.readTopic(dlt, 2*keys)[keys:] {
		if info, err := dlq.Parse(d); err != nil || info.Reason != dlq.Quarantined {
			t.Fatalf("dead letter after the rebalance: %+v (%v), want quarantined", info, err)
		}
	}
}

// TestQuarantineCommitWaitsForStore: the committer commits only offsets
// whose quarantine changes the store acknowledged. While the store topic
// refuses writes, the dead letters' offsets stay uncommitted (a restart
// would dead-letter them again: never a key handled out of order); once
// it accepts them, the commit passes them and the store holds the keys.
func TestQuarantineCommitWaitsForStore(t *testing.T) {
	f := newFixture(t, 1)
	f.createTopic(dlt, 1)
	f.poisonKeys(3)
	tds, err := f.adm.ListTopics(context.Background(), dlt)
	if err != nil {
		t.Fatal(err)
	}
	dltID := tds[dlt].ID // produce requests name topics by ID: any other is the store's now
	var refuse atomic.Bool
	refuse.Store(true)
	kc := f.cluster.Kafka()
	kc.ControlKey(int16(kmsg.Produce), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		req := kr.(*kmsg.ProduceRequest)
		if !refuse.Load() || len(req.Topics) == 0 || req.Topics[0].TopicID == dltID || req.Topics[0].Topic == dlt {
			return nil, nil, false
		}
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, kerr.TopicAuthorizationFailed.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	c := f.consumer("qwait", newRecorder(nil).handle, DeadLetterTopic(dlt))
	wait := runConsumer(t, c)
	waitFor(t, 10*time.Second, "3 dead letters", func() bool { return c.Stats().DeadLettered == 3 })
	time.Sleep(time.Second) // ten commit intervals, each a refused flush
	if got := f.committed("qwait")[0]; got > 0 {
		t.Fatalf("committed %d while the store refused the quarantine", got)
	}
	refuse.Store(false)
	waitFor(t, 10*time.Second, "the commit past the dead letters", func() bool { return f.committed("qwait")[0] == 3 })
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if s := f.quarantined("qwait", 0); s.Len() != 3 {
		t.Fatalf("store holds %d keys, want 3", s.Len())
	}
}

// TestQuarantineStorePartitions: the store topic Run creates has as many
// partitions as the largest consumed topic when that is over
// minStorePartitions, so each source partition has a store partition of
// its own.
func TestQuarantineStorePartitions(t *testing.T) {
	f := newFixture(t, 80)
	f.createTopic(dlt, 1)
	c := f.consumer("qparts", newRecorder(nil).handle, DeadLetterTopic(dlt))
	wait := runConsumer(t, c)
	store := quarantine.TopicFor("qparts")
	var n int
	waitFor(t, 10*time.Second, "the store topic", func() bool {
		tds, err := f.adm.ListTopics(context.Background(), store)
		n = len(tds[store].Partitions)
		return err == nil && n > 0
	})
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if n != 80 {
		t.Fatalf("store topic has %d partitions, want 80", n)
	}
}
