package consumer

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
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
