package consumer

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestReadyQueueOrder holds the ready list to its contract under random
// pushes and pops: every pop returns a key whose head is the oldest
// ready (the smallest dispatch number, keys of a partition in catch-up
// after all others), as a sorted model says, whether the key waited in
// the run or in the heap.
func TestReadyQueueOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(20, 4))
	live, catchUp := &partState{tracker: newTracker()}, &partState{tracker: newTracker()}
	catchUp.tracker.acct = &backlogAcct{}
	var q readyQueue
	var model []uint64 // the ready keys' orders, as pushed
	var next uint64
	orderOf := func(kq *keyQueue) uint64 {
		o := kq.items[0].order
		if kq.ps == catchUp {
			o |= behind
		}
		return o
	}
	for step := range 200_000 {
		if len(model) == 0 || rng.IntN(100) < 52 {
			ps := live
			if rng.IntN(8) == 0 {
				ps = catchUp
			}
			// Mostly in increasing order, as the poller pushes (the
			// run), the rest older, as keys pushed again are (the heap).
			next += rng.Uint64N(4)
			o := next
			if rng.IntN(3) == 0 {
				o = rng.Uint64N(next + 1)
			}
			kq := &keyQueue{ps: ps, items: []*item{{order: o}}}
			q.push(kq)
			model = append(model, orderOf(kq))
			continue
		}
		slices.Sort(model)
		got := orderOf(q.pop())
		if got != model[0] {
			t.Fatalf("step %d: popped order %#x, the oldest ready is %#x", step, got, model[0])
		}
		model = model[1:]
		if q.len() != len(model) {
			t.Fatalf("step %d: %d ready, want %d", step, q.len(), len(model))
		}
	}
}
