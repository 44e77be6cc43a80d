package quarantine

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestStoreFlushWaitsForAck protects the ordering the consumer's commit
// rests on: Flush returns only once the brokers acknowledged the store's
// records, so an offset committed after it never passes a quarantine the
// store does not hold.
func TestStoreFlushWaitsForAck(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := newCluster(t)
	s := openStore(ctx, t, c, 0)
	set, err := s.Load(ctx, "t", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := set.Start(key(1), 5); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var held atomic.Int32
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		held.Add(1)
		c.SleepControl(func() { <-release })
		return nil, nil, false // then the broker handles it
	})
	short, stop := context.WithTimeout(ctx, 300*time.Millisecond)
	err = s.Flush(short, map[TP]int64{{"t", 0}: 6})
	stop()
	if !errors.Is(err, context.DeadlineExceeded) || held.Load() == 0 {
		t.Fatalf("flush while the broker holds the produce: %v (%d produces held); want it to wait", err, held.Load())
	}
	close(release)
	if err := s.Flush(ctx, map[TP]int64{{"t", 0}: 6}); err != nil {
		t.Fatalf("flush after the broker answers: %v", err)
	}
	commitOnly(ctx, t, s, TP{"t", 0}, 6)
	s.Committed(map[TP]int64{{"t", 0}: 6})
	back, err := openStore(ctx, t, c, 0).Load(ctx, "t", 0)
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := back.Get(key(1)); !ok || e.Start != 5 {
		t.Fatalf("after flush and commit: %+v %v, want quarantined at 5", e, ok)
	}
}

// TestStoreAheadOfCommit is the crash between a store write and the offset
// commit it was for: the next owner resumes from the older committed
// offset and loads the state that replay from it needs, never a state
// that would let a key's record be handled ahead of its quarantine; a
// lift or restart is undone (the replay does it again), a new quarantine
// is kept (its dead letter was written). Once the commit happened, the
// new state is read. A record left for a commit that never happened is
// rewritten by the next owner's first flush.
func TestStoreAheadOfCommit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := newCluster(t)
	for _, tc := range []struct {
		name        string
		part        int32
		before      func(*Set)
		after       func(*Set)
		committed   int64 // before the lost commit
		point       int64 // the lost commit
		old, landed state
	}{
		{"start", 0, func(*Set) {}, func(s *Set) { _ = s.Start(key(1), 10) }, 5, 11,
			state{true, Entry{10, 10}}, state{true, Entry{10, 10}}},
		{"lift", 1, func(s *Set) { _ = s.Start(key(1), 10); s.Follow(key(1), 15) }, func(s *Set) { s.Lift(key(1), 10, 15) }, 11, 20,
			state{true, Entry{10, 10}}, state{}}, // the follow at 15 is read again too
		// A lift whose chain's last dead letter is before the committed
		// offset is part of it (see Set.Lift): resumed from there, the
		// key's records up to the lifting one are the chain's redriven
		// records, handled either way.
		{"lift-committed", 3, func(s *Set) { _ = s.Start(key(1), 10) }, func(s *Set) { s.Lift(key(1), 10, 10) }, 11, 20,
			state{}, state{}},
		{"restart", 2, func(s *Set) { _ = s.Start(key(1), 10); s.Follow(key(1), 12) }, func(s *Set) { _ = s.Start(key(1), 30) }, 13, 31,
			state{true, Entry{10, 12}}, state{true, Entry{30, 30}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tp := TP{"t", tc.part}
			a := openStore(ctx, t, c, 0)
			set, err := a.Load(ctx, tp.Topic, tp.Partition)
			if err != nil {
				t.Fatal(err)
			}
			tc.before(set)
			commit(ctx, t, a, tp, tc.committed)
			tc.after(set)
			if err := a.Flush(ctx, map[TP]int64{tp: tc.point}); err != nil {
				t.Fatal(err)
			}
			a.Close() // crash: the commit of tc.point is never sent
			b := openStore(ctx, t, c, 0)
			expect(ctx, t, c, tp, tc.old, "after the crash")
			commitOnly(ctx, t, b, tp, tc.point)
			expect(ctx, t, c, tp, tc.landed, "had the commit landed")
			commitOnly(ctx, t, b, tp, tc.committed)

			// The next owner flushes before its first commit, past the
			// lost point, without touching the key: the stale record is
			// rewritten as of its own committed offset.
			if _, err := b.Load(ctx, tp.Topic, tp.Partition); err != nil {
				t.Fatal(err)
			}
			commit(ctx, t, b, tp, tc.point+100)
			expect(ctx, t, c, tp, tc.old, "after the next owner's commit")
		})
	}
}

func expect(ctx context.Context, t *testing.T, c *kfake.Cluster, tp TP, want state, when string) {
	t.Helper()
	set, err := openStore(ctx, t, c, 0).Load(ctx, tp.Topic, tp.Partition)
	if err != nil {
		t.Fatal(err)
	}
	e, ok := set.Get(key(1))
	if got := (state{ok, e}); got != want || set.Len() != map[bool]int{true: 1}[ok] {
		t.Fatalf("%s: key quarantined %v %+v (%d keys), want %v %+v", when, ok, e, set.Len(), want.ok, want.e)
	}
}

// TestStoreBound is the hard bound: past MaxKeys a new key is ErrFull and
// the set is unchanged (the consumer then stops the partition rather than
// handle the key out of order); quarantined keys still follow, restart
// and lift. A set read back with more keys than a smaller bound keeps
// them all.
func TestStoreBound(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := newCluster(t)
	s := openStore(ctx, t, c, 100)
	set, err := s.Load(ctx, "t", 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if err := set.Start(key(i), int64(i)); err != nil {
			t.Fatalf("key %d of 100: %v", i, err)
		}
	}
	if err := set.Start(key(100), 100); !errors.Is(err, ErrFull) || set.Len() != 100 {
		t.Fatalf("key 101 of 100: %v, %d keys", err, set.Len())
	}
	if _, ok := set.Get(key(100)); ok {
		t.Fatal("the refused key is quarantined")
	}
	if !set.Follow(key(3), 200) || set.Start(key(4), 201) != nil {
		t.Fatal("a full set refused a quarantined key's follow or restart")
	}
	commit(ctx, t, s, TP{"t", 0}, 300)

	small := openStore(ctx, t, c, 50)
	back, err := small.Load(ctx, "t", 0)
	if err != nil {
		t.Fatal(err)
	}
	if back.Len() != 100 || back.Cap() != 50 {
		t.Fatalf("read back under a bound of 50: %d keys, cap %d; want all 100 kept", back.Len(), back.Cap())
	}
	if err := back.Start(key(100), 400); !errors.Is(err, ErrFull) {
		t.Fatalf("new key over the bound: %v", err)
	}
}

// TestStoreTopic: the store topic's name comes from the group (always a
// legal topic name, never shared by two groups), it is created compacted,
// and an existing topic that is not compacted is refused.
func TestStoreTopic(t *testing.T) {
	for group, want := range map[string]string{
		"orders":                 "orders.ordo-quarantine",
		"my group/1":             "my_group_1-",
		"my_group_1":             "my_group_1.ordo-quarantine",
		strings.Repeat("x", 300): strings.Repeat("x", 249-len(TopicSuffix)-17) + "-",
	} {
		got := TopicFor(group)
		if !strings.HasPrefix(got, want) || len(got) > 249 || !strings.HasSuffix(got, TopicSuffix) {
			t.Errorf("TopicFor(%.20q) = %q, want %q...%s within 249", group, got, want, TopicSuffix)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := newCluster(t)
	s := openStore(ctx, t, c, 0)
	rcs, err := s.adm.DescribeTopicConfigs(ctx, s.Topic())
	if err != nil {
		t.Fatal(err)
	}
	rc, _ := rcs.On(s.Topic(), nil)
	var policy string
	for _, cf := range rc.Configs {
		if cf.Key == "cleanup.policy" {
			policy = cf.MaybeValue()
		}
	}
	if policy != "compact" || s.parts != 4 {
		t.Fatalf("store topic %q: cleanup.policy=%q, %d partitions; want compact, 4", s.Topic(), policy, s.parts)
	}

	adm := kadm.NewClient(s.cl)
	del := "delete"
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"cleanup.policy": &del}, "h.ordo-quarantine"); err != nil {
		t.Fatal(err)
	}
	_, err = OpenStore(ctx, StoreConfig{Group: "h", Opts: []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}})
	if !errors.Is(err, ErrStoreTopic) {
		t.Fatalf("open over a delete-policy topic: %v, want ErrStoreTopic", err)
	}
}

// TestStoreConcurrentFlush runs the consumer's two sides at once: the
// partition's owner changes the set (under its own lock, as the consumer
// holds c.mu) while the committer flushes and commits the commit point
// it read. After the last commit, a restart loads exactly the owner's
// set. Run with -race: the journal is the only state they share.
func TestStoreConcurrentFlush(t *testing.T) {
	const n = 20_000
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := newCluster(t)
	tp := TP{"t", 3}
	s := openStore(ctx, t, c, 0)
	set, err := s.Load(ctx, tp.Topic, tp.Partition)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		next int64 // the owner's next offset: every record before it is settled
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for off := range int64(n) {
			k := key(int(off % 3000))
			mu.Lock()
			if e, ok := set.Get(k); !ok {
				_ = set.Start(k, off)
			} else if off%7 == 0 {
				set.Lift(k, e.Start, e.Last)
			} else {
				set.Follow(k, off)
			}
			next = off + 1
			mu.Unlock()
			if off%100 == 0 {
				time.Sleep(time.Millisecond) // let commits overlap the changes
			}
		}
	}()
	commits := 0
	for stop := false; !stop; commits++ {
		select {
		case <-done:
			stop = true
		case <-time.After(5 * time.Millisecond):
		}
		mu.Lock()
		point := next
		mu.Unlock()
		commit(ctx, t, s, tp, point)
	}
	back, err := openStore(ctx, t, c, 0).Load(ctx, tp.Topic, tp.Partition)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d commits while the owner changed %d keys %d times", commits, 3000, n)
	if commits < 3 {
		t.Fatalf("only %d commits overlapped the owner's changes", commits)
	}
	if back.Len() != set.Len() {
		t.Fatalf("restart loads %d keys, the owner has %d", back.Len(), set.Len())
	}
	for i := range 3000 {
		e, ok := set.Get(key(i))
		if f, fok := back.Get(key(i)); ok != fok || e != f {
			t.Fatalf("key %d: owner %v %+v, restart %v %+v", i, ok, e, fok, f)
		}
	}
}

// TestStoreMergeLegacy is the upgrade: the keys of a set from commit
// metadata are merged into the partition's store-backed set and written
// at its next flush, so a restart finds them in the store; a key the
// store already holds keeps the store's entry.
func TestStoreMergeLegacy(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := newCluster(t)
	tp := TP{"t", 1}
	legacy, _ := New(0)
	for i := range 95 {
		_ = legacy.Start(key(i), int64(i))
	}
	legacy, err := Decode(legacy.Encode(), 0)
	if err != nil {
		t.Fatal(err)
	}
	s := openStore(ctx, t, c, 0)
	set, err := s.Load(ctx, tp.Topic, tp.Partition)
	if err != nil {
		t.Fatal(err)
	}
	_ = set.Start(key(0), 200)
	set.Merge(legacy)
	commit(ctx, t, s, tp, 300)
	back, err := openStore(ctx, t, c, 0).Load(ctx, tp.Topic, tp.Partition)
	if err != nil {
		t.Fatal(err)
	}
	if back.Len() != 95 {
		t.Fatalf("after the merge a restart loads %d keys, want 95", back.Len())
	}
	if e, _ := back.Get(key(0)); e.Start != 200 {
		t.Fatalf("key 0 starts at %d, want the store's 200", e.Start)
	}
	if e, ok := back.Get(key(94)); !ok || e.Start != 94 {
		t.Fatalf("key 94: %+v %v, want the metadata's 94", e, ok)
	}
}
