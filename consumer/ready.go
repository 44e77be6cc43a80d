package consumer

// readyQueue holds the keys whose head record may be handled now, oldest
// head first. Handling the oldest available record first keeps the
// consumer close to log order: the commit point (the lowest unfinished
// offset) trails the work as little as key-parallelism allows, so a crash
// redelivers fewer records and lag by time stays honest. A plain FIFO of
// keys would let every key advance evenly instead, leaving old records of
// some keys unfinished behind many newer ones.
//
// It is a binary min-heap of (head's dispatch number, queue) pairs held by
// value: a comparison reads two adjacent words, never the queue or its
// records. (A heap of *keyQueue ordered through kq.items[0].order spent
// 10–12% of the consumer's CPU chasing those pointers, under the engine's
// lock.) The number is the head's as of the push; a queue's head does not
// change while it waits here (records are appended behind it, and a
// dropped queue is popped and passed over), so the order stays valid.
//
// Beside the heap, a run: keys pushed in increasing order (each at or
// after the run's last) are appended to a FIFO instead, and pop takes the
// older of the run's front and the heap's top. The poller pushes each key
// it finds idle with the record it dispatches, in dispatch order: with
// about a record per key buffered, most keys are pushed once, by the
// poller, and leave when that record is done. Those took a heap push and
// a heap pop each, ~13 levels deep at 10,000 keys and a cache miss a
// level (pop alone ~50–90 ns a record under the engine's lock, issue 20);
// in the run they take two slice steps. Keys pushed again (a key's next
// record after its head finished, a retry, a claim given back) are older
// than the run's last and go to the heap. The order popped is the same.
type readyQueue struct {
	h    []readyKey // the heap
	run  []readyKey // run[head:] in increasing order
	head int
}

type readyKey struct {
	order uint64 // dispatch number of the queue's head when pushed; 0 for an empty queue
	kq    *keyQueue
}

func (q *readyQueue) len() int { return len(q.h) + len(q.run) - q.head }

// behind marks the order of a key of a partition in catch-up: such keys
// come after every key of a partition not in catch-up, so that under a
// rate cap a live partition's records take tokens first and the catch-up
// the rest (fair.go). Dispatch numbers never reach it.
const behind = 1 << 63

func (q *readyQueue) push(kq *keyQueue) {
	o := kq.headSeq()
	if kq.ps.tracker.acct != nil {
		o |= behind
	}
	if n := len(q.run); n == q.head || q.run[n-1].order <= o {
		if n == q.head {
			q.run, q.head = q.run[:0], 0
		}
		q.run = append(q.run, readyKey{o, kq})
		return
	}
	q.h = append(q.h, readyKey{o, kq})
	// up
	h, j := q.h, len(q.h)-1
	for j > 0 {
		i := (j - 1) / 2
		if h[i].order <= h[j].order {
			break
		}
		h[i], h[j] = h[j], h[i]
		j = i
	}
}

func (q *readyQueue) pop() *keyQueue {
	if q.head < len(q.run) && (len(q.h) == 0 || q.run[q.head].order <= q.h[0].order) {
		kq := q.run[q.head].kq
		q.run[q.head] = readyKey{}
		q.head++
		if q.head > 1024 && 2*q.head > len(q.run) { // give the popped front back
			n := copy(q.run, q.run[q.head:])
			clear(q.run[n:])
			q.run, q.head = q.run[:n], 0
		}
		return kq
	}
	return q.popHeap()
}

// popHeap pops the heap's top.
func (q *readyQueue) popHeap() *keyQueue {
	h := q.h
	n := len(h) - 1
	top := h[0].kq
	h[0] = h[n]
	h[n] = readyKey{}
	h = h[:n]
	q.h = h
	// down
	for i := 0; ; {
		l := 2*i + 1
		if l >= n {
			break
		}
		j := l
		if r := l + 1; r < n && h[r].order < h[l].order {
			j = r
		}
		if h[i].order <= h[j].order {
			break
		}
		h[i], h[j] = h[j], h[i]
		i = j
	}
	return top
}
