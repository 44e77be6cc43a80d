package consumer

import (
	"sync"
	"time"
)

// The scheduler: the room every record waits in between the poller and a
// lane.
//
// It owns the assigned partitions' key queues (partState's keys, keyless,
// held, parked, inflight, revoked), the ready set (ready.go), the lanes'
// claims (lane.go's batches), the buffer counts the poller waits on, the
// retry timers of the "not ready until T" seam, what Pause holds back, and
// whether the consumer is stopping. Its methods are the scheduling: queue
// (schedule.go), claim, settle, take back, hold, release (lane.go,
// control.go).
//
// Lock. mu is grabbed when the poller dispatches a run of records, when
// a lane settles its batch and claims the next (one critical section),
// when a revoke, a stop or Pause takes claims back, when a retry timer
// puts a key back, and when the committer, the stuck watcher or the
// telemetry read the partitions. It is the lock of the conditions work,
// space and idle. The trackers (committer's) and the replay gate's
// fields are still read and written under it: a record's offset becomes
// markable, and its catch-up counts it, in the same critical section in
// which its key's next record becomes ready.
//
// Outside mu: a claim's state (claimed, started, cancelled) changes by
// compare-and-swap (lane.go); counters (stats) are atomics.
//
// Goroutines: none of its own. The retry timers it starts (afterLocked)
// are in timers, stopped by the consumer's stop after the lanes are done.
type scheduler struct {
	mu    sync.Mutex
	work  *sync.Cond // ready has keys, or stopping
	space *sync.Cond // buffered fell below the cap, or stopping
	idle  *sync.Cond // inflight changed

	parts       map[tp]*partState
	ready       readyQueue
	dispatched  uint64              // records ever dispatched; numbers them
	buffered    int                 // records dispatched and not finished or dropped
	bufBytes    int                 // what they hold (recordBytes, poll.go)
	tracked     int                 // records in the trackers: dispatched, not yet passed by the commit point
	inflight    int                 // records lanes have claimed and not settled (lane.go)
	waiting     int                 // lanes waiting for work
	multi       int                 // lanes' batches of more than one claim (lane.go)
	batches     map[*batch]struct{} // every running lane's batch
	freeItems   []*item             // recycled items (lane.go)
	freeQueues  []*keyQueue         // recycled key queues
	timers      map[*time.Timer]struct{}
	paused      pauses // what Pause holds back (control.go)
	pollWaiting bool   // the poller waits for the buffer to drain
	stopping    bool
	closing     bool // immediate stop: do not wait for in-flight work
	fatal       error

	// Immutable after init.
	concurrency      int
	maxBuffered      int
	maxBufferedBytes int
	stats            *counters
}

// init readies s for a consumer configured by cfg, counting into stats.
func (s *scheduler) init(cfg config, stats *counters) {
	s.work = sync.NewCond(&s.mu)
	s.space = sync.NewCond(&s.mu)
	s.idle = sync.NewCond(&s.mu)
	s.parts = make(map[tp]*partState)
	s.batches = make(map[*batch]struct{})
	s.timers = make(map[*time.Timer]struct{})
	s.concurrency = cfg.concurrency
	s.maxBuffered = cfg.maxBuffered
	s.maxBufferedBytes = cfg.maxBufferedBytes
	s.stats = stats
}
