package consumer

import "container/heap"

// readyQueue holds the keys whose head record may be handled now, oldest
// head first. Handling the oldest available record first keeps the
// consumer close to log order: the commit point (the lowest unfinished
// offset) trails the work as little as key-parallelism allows, so a crash
// redelivers fewer records and lag by time stays honest. A plain FIFO of
// keys would let every key advance evenly instead, leaving old records of
// some keys unfinished behind many newer ones.
type readyQueue struct{ h keyHeap }

func (q *readyQueue) push(kq *keyQueue) { heap.Push(&q.h, kq) }

func (q *readyQueue) pop() *keyQueue { return heap.Pop(&q.h).(*keyQueue) }

func (q *readyQueue) len() int { return len(q.h) }

type keyHeap []*keyQueue

func (h keyHeap) Len() int { return len(h) }

// Less orders by the dispatch number of each queue's head. A queue whose
// records were all dropped sorts first, so it leaves the heap quickly.
func (h keyHeap) Less(i, j int) bool { return h[i].headSeq() < h[j].headSeq() }
func (h keyHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *keyHeap) Push(x any)        { *h = append(*h, x.(*keyQueue)) }
func (h *keyHeap) Pop() any {
	old := *h
	n := len(old)
	kq := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	return kq
}
