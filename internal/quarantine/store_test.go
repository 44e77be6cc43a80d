package quarantine

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const group = "g"

func newCluster(t *testing.T, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(4, "t")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func openStore(ctx context.Context, t *testing.T, c *kfake.Cluster, maxKeys int) *Store {
	t.Helper()
	s, err := OpenStore(ctx, StoreConfig{Group: group, MaxKeys: maxKeys, Partitions: 4, Opts: []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// commit does what the consumer's committer does with the store: flush
// the changes a commit of offset passes, commit it, confirm it.
func commit(ctx context.Context, t *testing.T, s *Store, tp TP, offset int64) {
	t.Helper()
	points := map[TP]int64{tp: offset}
	if err := s.Flush(ctx, points); err != nil {
		t.Fatalf("flush: %v", err)
	}
	commitOnly(ctx, t, s, tp, offset)
	s.Committed(points)
}

func commitOnly(ctx context.Context, t *testing.T, s *Store, tp TP, offset int64) {
	t.Helper()
	var os kadm.Offsets
	os.Add(kadm.Offset{Topic: tp.Topic, Partition: tp.Partition, At: offset, LeaderEpoch: -1})
	resp, err := s.adm.CommitOffsets(ctx, group, os)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
}

func key(i int) []byte { return fmt.Appendf(nil, "order-%d", i) }

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestStore100kKeysSurviveRestart is the scale: 100,000 keys of
// one partition quarantined, flushed and committed, then read back by a
// new store (a restart, or the partition's next owner after a rebalance)
// with every entry as it was; lifting half of them deletes those. It
// measures the loaded set's memory per key against the documented
// bytesPerKey and reports the load time.
func TestStore100kKeysSurviveRestart(t *testing.T) {
	const n = 100_000
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := newCluster(t)
	tp := TP{"t", 2}

	a := openStore(ctx, t, c, 0)
	set, err := a.Load(ctx, tp.Topic, tp.Partition)
	if err != nil {
		t.Fatalf("first load: %v", err)
	}
	if set.Len() != 0 {
		t.Fatalf("first load: %d keys", set.Len())
	}
	for i := range n {
		if err := set.Start(key(i), int64(2*i)); err != nil {
			t.Fatalf("start %d: %v", i, err)
		}
		set.Follow(key(i), int64(2*i+1))
	}
	if got := set.Encode(); got != "" {
		t.Fatalf("a store-backed set encoded %d bytes of commit metadata", len(got))
	}
	begin := time.Now()
	commit(ctx, t, a, tp, 2*n)
	t.Logf("flushed %d keys in %v", n, time.Since(begin).Round(time.Millisecond))
	a.Close()

	b := openStore(ctx, t, c, 0)
	before := liveHeap()
	begin = time.Now()
	back, err := b.Load(ctx, tp.Topic, tp.Partition)
	took := time.Since(begin)
	if err != nil {
		t.Fatal(err)
	}
	perKey := float64(liveHeap()-before) / n
	t.Logf("loaded %d keys in %v; %.1f bytes of live heap per key", back.Len(), took.Round(time.Millisecond), perKey)
	if back.Len() != n {
		t.Fatalf("loaded %d keys, want %d", back.Len(), n)
	}
	for i := range n {
		if e, ok := back.Get(key(i)); !ok || e != (Entry{int64(2 * i), int64(2*i + 1)}) {
			t.Fatalf("key %d after restart: %+v %v, want {%d %d}", i, e, ok, 2*i, 2*i+1)
		}
	}
	if took > 20*time.Second {
		t.Fatalf("loading %d keys took %v", n, took)
	}
	if perKey > bytesPerKey {
		t.Fatalf("%.1f bytes per loaded key, documented at most %d", perKey, bytesPerKey)
	}

	for i := 0; i < n; i += 2 {
		if !back.Lift(key(i), int64(2*i), int64(2*i+1)) {
			t.Fatalf("lift %d refused", i)
		}
	}
	commit(ctx, t, b, tp, 3*n)
	commit(ctx, t, b, tp, 3*n) // writes the tombstones of the lifted keys
	b.Close()

	d := openStore(ctx, t, c, 0)
	last, err := d.Load(ctx, tp.Topic, tp.Partition)
	if err != nil {
		t.Fatal(err)
	}
	if last.Len() != n/2 {
		t.Fatalf("after lifting half: %d keys, want %d", last.Len(), n/2)
	}
	for i := range n {
		if _, ok := last.Get(key(i)); ok != (i%2 == 1) {
			t.Fatalf("key %d quarantined %v after lifting the even keys", i, ok)
		}
	}
	other, err := d.Load(ctx, tp.Topic, 1)
	if err != nil {
		t.Fatal(err)
	}
	if other.Len() != 0 {
		t.Fatalf("partition 1 holds %d keys; its store partition is another", other.Len())
	}
}

// A store topic just created is unknown to the brokers for a moment (a
// real cluster answered UNKNOWN_TOPIC_OR_PARTITION to the metadata read
// right after the creation, and the consumer halted at its first
// assignment): OpenStore asks again while the answer is retriable, and
// still fails at once on one that is not.
func TestOpenStoreWaitsForNewTopic(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := newCluster(t)
	refuse := func(code int16, n int) *atomic.Int32 {
		var seen atomic.Int32
		c.ControlKey(kmsg.DescribeConfigs.Int16(), func(kr kmsg.Request) (kmsg.Response, error, bool) {
			c.KeepControl()
			if seen.Add(1) > int32(n) {
				seen.Add(-1)
				c.DropControl()
				return nil, nil, false // the cluster answers from now on
			}
			req := kr.(*kmsg.DescribeConfigsRequest)
			resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
			for _, r := range req.Resources {
				rr := kmsg.NewDescribeConfigsResponseResource()
				rr.ResourceType, rr.ResourceName, rr.ErrorCode = r.ResourceType, r.ResourceName, code
				resp.Resources = append(resp.Resources, rr)
			}
			return resp, nil, true
		})
		return &seen
	}
	seen := refuse(kerr.UnknownTopicOrPartition.Code, 3)
	s, err := OpenStore(ctx, StoreConfig{Group: group, Partitions: 4, Opts: []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}})
	if err != nil {
		t.Fatalf("OpenStore = %v after %d refusals", err, seen.Load())
	}
	defer s.Close()
	if n := seen.Load(); n != 3 {
		t.Fatalf("describe refused %d times, want 3 before the store opened", n)
	}
	if s.parts != 4 {
		t.Fatalf("store has %d partitions, want 4", s.parts)
	}
	seen = refuse(kerr.TopicAuthorizationFailed.Code, 1)
	_, err = OpenStore(ctx, StoreConfig{Group: "other", Partitions: 4, Opts: []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}})
	if !errors.Is(err, kerr.TopicAuthorizationFailed) || seen.Load() != 1 {
		t.Fatalf("OpenStore = %v after %d refusals, want TOPIC_AUTHORIZATION_FAILED at once", err, seen.Load())
	}
}
