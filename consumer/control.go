package consumer

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Operator controls: pause and resume, the assignment, per-partition lag,
// health and readiness, and hooks on assignment and revocation.

// pauses is what Pause holds back: whole topics, or single partitions.
// Guarded by the scheduler's lock.
type pauses struct {
	topics map[string]bool
	parts  map[tp]bool
}

func (p *pauses) holds(k tp) bool { return p.topics[k.topic] || p.parts[k] }

// Pause stops consuming topic's partitions (all of them if none are
// given), until [Consumer.Resume]: fetching stops, and records already
// fetched are not started (a record running finishes). Other partitions
// flow. A pause outlasts rebalances: a paused partition assigned again
// later stays paused. Safe for concurrent use; it does not block.
func (c *Consumer) Pause(topic string, partitions ...int32) {
	c.sched.mu.Lock()
	defer c.sched.mu.Unlock()
	if len(partitions) == 0 {
		if c.sched.paused.topics == nil {
			c.sched.paused.topics = make(map[string]bool)
		}
		c.sched.paused.topics[topic] = true
		c.sched.fetch.pause(c.cl, fetchUser, map[string][]int32{topic: nil})
		c.sched.takeBackLocked(func(ps *partState) bool { return ps.tp.topic == topic }, true)
		return
	}
	if c.sched.paused.parts == nil {
		c.sched.paused.parts = make(map[tp]bool)
	}
	for _, p := range partitions {
		c.sched.paused.parts[tp{topic, p}] = true
	}
	c.sched.fetch.pause(c.cl, fetchUser, map[string][]int32{topic: partitions})
	c.sched.takeBackLocked(func(ps *partState) bool { return c.sched.paused.parts[ps.tp] }, true)
}

// Resume undoes [Consumer.Pause] for topic's partitions (all of them if
// none are given, including partitions paused one by one). Records held
// back are dispatched again, oldest first.
func (c *Consumer) Resume(topic string, partitions ...int32) {
	c.sched.mu.Lock()
	defer c.sched.mu.Unlock()
	if len(partitions) == 0 {
		delete(c.sched.paused.topics, topic)
		for k := range c.sched.paused.parts {
			if k.topic == topic {
				partitions = append(partitions, k.partition)
				delete(c.sched.paused.parts, k)
			}
		}
		c.sched.fetch.resume(c.cl, fetchUser, map[string][]int32{topic: nil})
	} else {
		for _, p := range partitions {
			delete(c.sched.paused.parts, tp{topic, p})
		}
	}
	if len(partitions) > 0 {
		// Through the registry: a partition over its share of the buffer
		// under a rate cap stays paused for that reason (fair.go).
		c.sched.fetch.resume(c.cl, fetchUser, map[string][]int32{topic: partitions})
	}
	for k, ps := range c.sched.parts {
		if k.topic == topic && !c.sched.paused.holds(k) {
			c.sched.releaseHeldLocked(ps)
		}
	}
}

// holdLocked parks kq while its partition is paused, or while the
// outputs waiting for their transaction are over their bound
// (txn_bound.go); it reports whether it did. Called by nextLocked.
func (s *scheduler) holdLocked(kq *keyQueue) bool {
	paused := (s.paused.topics != nil || s.paused.parts != nil) && s.paused.holds(kq.ps.tp)
	if !paused && !s.overOutputsLocked(kq) {
		return false
	}
	kq.scheduled = false
	kq.held = true // not recycled while ps.held refers to it
	kq.ps.held = append(kq.ps.held, kq)
	return true
}

// releaseHeldLocked puts ps's parked keys back on the ready list.
func (s *scheduler) releaseHeldLocked(ps *partState) {
	for _, kq := range ps.held {
		kq.held = false
		if !kq.scheduled && len(kq.items) > 0 {
			kq.scheduled = true
			s.ready.push(kq)
		}
	}
	clear(ps.held)
	ps.held = ps.held[:0]
	s.work.Broadcast()
}

// Assignment returns the partitions this consumer holds now, by topic, in
// ascending order.
func (c *Consumer) Assignment() map[string][]int32 {
	c.sched.mu.Lock()
	defer c.sched.mu.Unlock()
	out := make(map[string][]int32)
	for k := range c.sched.parts {
		out[k.topic] = append(out[k.topic], k.partition)
	}
	for _, ps := range out {
		slices.Sort(ps)
	}
	return out
}

// PartitionLag is one assigned partition's position.
type PartitionLag struct {
	Topic     string
	Partition int32
	// Next is the lowest offset not yet finished (the commit point);
	// before the partition's first record, the group's committed offset
	// (-1 until it is read, or if the group has none).
	Next int64
	// HighWatermark is the partition's end as of the last fetch; for a
	// partition that is not fetched (held by [Consumer.Pause]) or not yet
	// fetched, as of the cluster's answer every 2 s. -1 before either.
	HighWatermark int64
	// Records is HighWatermark − Next, or -1 while either is unknown.
	Records int64
	// Age is how long ago the oldest unfinished record was written; 0
	// when none is buffered.
	Age time.Duration
	// Stuck says the partition's commit point has not moved for
	// [StuckAfter] while records wait.
	Stuck bool
	// Paused says [Consumer.Pause] holds it.
	Paused bool
	// HeldByBreaker says the breaker is open (see the package doc,
	// "Breaker"): the consumer's dispatch and fetching are paused for a
	// systemic failure, on every partition alike; HighWatermark is then
	// read from the cluster every 2 s, so Records shows the lag growing.
	HeldByBreaker bool
}

// Lag returns the position of every assigned partition, sorted by topic
// and partition. It reads the consumer's own state: no request is made.
func (c *Consumer) Lag() []PartitionLag {
	c.sched.mu.Lock()
	defer c.sched.mu.Unlock()
	now := time.Now()
	held := c.brk.holding()
	out := make([]PartitionLag, 0, len(c.sched.parts))
	for k, ps := range c.sched.parts {
		next := ps.tracker.next
		if next < 0 {
			next = ps.committed
		}
		pl := PartitionLag{Topic: k.topic, Partition: k.partition, Next: next,
			HighWatermark: ps.hwm, Records: -1, Stuck: !ps.stuck.stuckSince.IsZero(), Paused: c.sched.paused.holds(k), HeldByBreaker: held}
		if n, ok := ps.lag(); ok {
			pl.Records = n
		}
		if at, ok := ps.oldestPending(); ok {
			pl.Age = now.Sub(at)
		}
		out = append(out, pl)
	}
	slices.SortFunc(out, func(a, b PartitionLag) int {
		if a.Topic != b.Topic {
			return strings.Compare(a.Topic, b.Topic)
		}
		return int(a.Partition - b.Partition)
	})
	return out
}

// ErrNotReady is matched by the error [Consumer.Ready] returns.
var ErrNotReady = errors.New("consumer: not ready")

// Ready reports whether the consumer is doing its job, for a service's
// readiness or health endpoint: nil when Run is running, every consumed
// topic exists (a missing one is named, and logged once at WARN, within
// about a second of Run: a misspelt [Topics] name), the group has
// given it an assignment (possibly empty: a group with more members than
// partitions leaves some idle, and that is healthy), the breaker is
// closed (open, the error says for how long, why, and when it probes
// next), and no partition is
// stuck (see [StuckAfter]). Otherwise an error matching [ErrNotReady] says
// why. maxAge, if positive, also requires every partition to be caught up:
// its oldest unfinished record written less than maxAge ago (pass 0 during
// a known catch-up you are content to wait out). It makes no request.
func (c *Consumer) Ready(maxAge time.Duration) error {
	if !c.running.Load() {
		return fmt.Errorf("%w: not running", ErrNotReady)
	}
	c.sched.mu.Lock()
	stopping := c.sched.stopping
	c.sched.mu.Unlock()
	member, _ := c.cl.GroupMetadata()
	if stopping {
		return fmt.Errorf("%w: stopping", ErrNotReady)
	}
	if why := c.topics.why(); why != "" {
		return fmt.Errorf("%w: %s", ErrNotReady, why)
	}
	if member == "" {
		return fmt.Errorf("%w: not in the group yet", ErrNotReady)
	}
	if why := c.brk.why(); why != "" {
		return fmt.Errorf("%w: %s", ErrNotReady, why)
	}
	var why []string
	for _, pl := range c.Lag() {
		if pl.Stuck {
			why = append(why, fmt.Sprintf("%s/%d stuck at offset %d", pl.Topic, pl.Partition, pl.Next))
		} else if maxAge > 0 && pl.Age > maxAge {
			why = append(why, fmt.Sprintf("%s/%d behind by %v", pl.Topic, pl.Partition, pl.Age.Round(time.Millisecond)))
		}
	}
	if len(why) > 0 {
		return fmt.Errorf("%w: %v", ErrNotReady, why)
	}
	return nil
}

// OnAssigned calls fn with the partitions the group gives this consumer,
// after ordo has set them up and before any of their records is handled,
// so a service can load its own per-partition state. It runs on kgo's
// rebalance goroutine: keep it short. Default: none.
func OnAssigned(fn func(ctx context.Context, partitions map[string][]int32)) Option {
	return optionFunc(func(c *config) {
		if fn == nil {
			c.fail("OnAssigned: nil function")
		}
		c.onAssigned = fn
	})
}

// OnRevoked calls fn with the partitions taken from this consumer: on a
// revoke after their in-flight records finished (bounded by
// [DrainTimeout]) and their offsets were committed; when partitions are
// lost (the member was thrown out of the group), with nothing committed.
// Either way no record of them is handled by this consumer afterwards
// (save a handler that ignored its cancelled ctx). It runs on kgo's
// rebalance goroutine: keep it short. Default: none.
func OnRevoked(fn func(ctx context.Context, partitions map[string][]int32)) Option {
	return optionFunc(func(c *config) {
		if fn == nil {
			c.fail("OnRevoked: nil function")
		}
		c.onRevoked = fn
	})
}

// withHook runs ordo's rebalance callback, then the user's hook (if any)
// with a copy of the partitions.
func withHook(own func(context.Context, *kgo.Client, map[string][]int32),
	hook func(context.Context, map[string][]int32)) func(context.Context, *kgo.Client, map[string][]int32) {
	if hook == nil {
		return own
	}
	return func(ctx context.Context, cl *kgo.Client, m map[string][]int32) {
		own(ctx, cl, m)
		hook(ctx, copyAssignment(m))
	}
}

// copyAssignment copies a kgo assignment map for a user's hook.
func copyAssignment(m map[string][]int32) map[string][]int32 {
	out := maps.Clone(m)
	for t, ps := range out {
		out[t] = slices.Clone(ps)
	}
	return out
}
