package consumer

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestIdleQueuesKept protects the key queues' reuse: a key whose queue
// emptied finds it again, idle in its partition's keys, for its next
// record (no copy of the key, no map insert and delete under the
// engine's lock); and the idle queues kept stay within MaxBuffered, with
// the scheduler's count true to the partitions'. 300 keys, a record of
// each at a time, under a MaxBuffered of 200.
func TestIdleQueuesKept(t *testing.T) {
	f := newFixture(t, 3)
	const keys, perKey, maxBuf = 300, 4, 200
	n := f.publish(keys, perKey)
	var handled atomic.Int64
	c := f.consumer("idle", func(context.Context, Step, Meta) error {
		handled.Add(1)
		return nil
	}, MaxBuffered(maxBuf))
	wait := runConsumer(t, c)
	waitFor(t, 30*time.Second, "every record handled", func() bool { return handled.Load() == int64(n) })
	waitFor(t, 10*time.Second, "nothing buffered", func() bool {
		c.sched.mu.Lock()
		defer c.sched.mu.Unlock()
		return c.sched.buffered == 0
	})
	c.sched.mu.Lock()
	total, idle := 0, 0
	for _, ps := range c.sched.parts {
		n := 0
		for _, kq := range ps.keys {
			if !kq.idle || len(kq.items) > 0 || kq.scheduled {
				t.Errorf("key %q: idle %v, %d records, scheduled %v: an emptied queue kept must be idle and empty",
					kq.key, kq.idle, len(kq.items), kq.scheduled)
			}
			n++
		}
		if n != ps.idleKeys {
			t.Errorf("partition %d holds %d idle queues, counts %d", ps.tp.partition, n, ps.idleKeys)
		}
		total += n
	}
	idle = c.sched.idleKeys
	c.sched.mu.Unlock()
	if total != idle || total != maxBuf {
		t.Fatalf("%d idle queues kept, the scheduler counts %d; want MaxBuffered (%d): %d keys were seen", total, idle, maxBuf, keys)
	}
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
}

// TestIdleQueueRevoked: a record of a revoked partition that finishes
// on its lane after the revoke leaves no idle queue counted: release
// counted the partition's idle queues out, and one kept afterwards
// would be counted for good, shrinking what every other partition may
// keep.
func TestIdleQueueRevoked(t *testing.T) {
	var s scheduler
	s.init(defaults(), &counters{})
	s.handlerCtx = context.Background()
	ps := &partState{tp: tp{"t", 0}, tracker: newTracker(), keys: make(map[string]*keyQueue), keyless: make(map[*keyQueue]struct{})}
	s.parts[ps.tp] = ps
	b := &batch{}
	s.mu.Lock()
	if !s.dispatch(ps, &kgo.Record{Topic: "t", Key: []byte("k")}, &prepared{bytes: 1}) {
		t.Fatal("the record was not dispatched")
	}
	s.claimKeyLocked(b, nil, s.ready.pop(), time.Now())
	s.mu.Unlock()
	if len(b.claims) != 1 {
		t.Fatalf("%d claims, want 1", len(b.claims))
	}
	b.claims[0].state = stateStarted // its lane runs it
	s.release(map[string][]int32{"t": {0}})
	b.claims[0].out = outcome{done: true, outcome: "handled"}
	s.mu.Lock()
	s.settleBatchLocked(b)
	idle := s.idleKeys
	s.mu.Unlock()
	if idle != 0 {
		t.Fatalf("the scheduler counts %d idle queues after the revoked partition's last record finished, want 0", idle)
	}
}
