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
type readyQueue struct{ h []readyKey }

type readyKey struct {
	order uint64 // dispatch number of the queue's head when pushed; 0 for an empty queue
	kq    *keyQueue
}

func (q *readyQueue) len() int { return len(q.h) }

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
