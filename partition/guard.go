package partition

import "sync"

// Guard remembers the partition count of every topic as first seen and
// reports any later change. Kafka lets an operator add partitions to a live
// topic; doing so silently moves keys to other partitions, so records of one
// key written before and after may be consumed out of order. The guard turns
// that silent change into an error.
//
// The zero value is ready to use. A Guard is safe for concurrent use. A nil
// *Guard guards nothing and says so: its Check returns [ErrNilGuard].
type Guard struct {
	mu     sync.Mutex
	counts map[string]int
}

// Check records n as topic's partition count if the topic is new, and
// returns a [*CountChangedError] if n differs from the count on record. The
// record is not updated by a mismatch: the guard keeps refusing until
// [Guard.Accept] adopts the new count.
func (g *Guard) Check(topic string, n int) error {
	if g == nil {
		return ErrNilGuard
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	was, ok := g.counts[topic]
	if !ok {
		if g.counts == nil {
			g.counts = make(map[string]int)
		}
		g.counts[topic] = n
		return nil
	}
	if was != n {
		return &CountChangedError{Topic: topic, Was: was, Now: n}
	}
	return nil
}

// Accept makes n the count on record for topic, after an operator has
// decided that the change is safe (for example, once the old partitions are
// drained). On a nil *Guard it does nothing.
func (g *Guard) Accept(topic string, n int) {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.counts == nil {
		g.counts = make(map[string]int)
	}
	g.counts[topic] = n
}

// Count returns the partition count on record for topic (none on a nil
// *Guard).
func (g *Guard) Count(topic string) (int, bool) {
	if g == nil {
		return 0, false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	n, ok := g.counts[topic]
	return n, ok
}
