package consumer

import (
	"context"
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
	bufBytes    int                 // what they hold (recordBytes, poll.go), and the outputs waiting for their transaction (txn.go)
	outputs     outputsBound        // the outputs' share of bufBytes, and their bound (txn_bound.go)
	tracked     int                 // records in the trackers: dispatched, not yet passed by the commit point
	inflight    int                 // records lanes have claimed and not settled (lane.go)
	waiting     int                 // lanes waiting for work
	multi       int                 // lanes' batches of more than one claim (lane.go)
	batches     map[*batch]struct{} // every running lane's batch
	freeItems   []*item             // recycled items (lane.go)
	freeQueues  []*keyQueue         // recycled key queues
	idleKeys    int                 // empty key queues kept in their partitions' keys (keepIdleLocked)
	timers      map[*time.Timer]struct{}
	paused      pauses // what Pause holds back (control.go)
	fair        fair   // the partitions over their share of the buffer (fair.go)
	pollWaiting bool   // the poller waits for the buffer to drain
	stopping    bool
	closing     bool  // immediate stop: do not wait for in-flight work
	drainMissed bool  // handlers were running when the stop was made immediate
	fatal       error // why the consumer halts; Run returns it

	// handlerCtx is the parent of the partitions' handler contexts
	// (partState.handlerCtx): Run's ctx without its cancellation, set by
	// startWork; cancelWork ends it (an immediate stop, or the drain's
	// end).
	handlerCtx context.Context
	cancelWork context.CancelFunc

	// ending is done when stopping begins (stopLocked): the lifecycle's
	// goroutines and probes watch it. Immutable after init.
	ending    context.Context
	endEnding context.CancelFunc

	// The seams, set by New: the dispatch gate (replay.go; nil gates
	// nothing), the partitions' rate limit (replay_partition.go), and
	// where a dead letter's key is quarantined (quarantine.go).
	gate     *replay
	partRate partRate
	quar     *quarantiner
	brk      *circuit    // the breaker (breaker.go); nil when off
	checks   *checks     // the headers read at dispatch (schedule.go)
	fetch    fetchPauses // why fetches are paused (fetchpause.go): its own lock, not mu
	obs      *observer   // records consumed, per run of records

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
	s.ending, s.endEnding = context.WithCancel(context.Background())
}

// startWork makes the handlers' parent context from Run's ctx (its values,
// not its cancellation) and returns what ends it; a consumer already
// closing gets it ended.
func (s *scheduler) startWork(ctx context.Context) context.CancelFunc {
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.mu.Lock()
	s.handlerCtx, s.cancelWork = hctx, cancel
	closing := s.closing
	s.mu.Unlock()
	if closing {
		cancel()
	}
	return cancel
}

// endWork cancels every handler's context (after the drain).
func (s *scheduler) endWork() {
	s.mu.Lock()
	cancel := s.cancelWork
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// stop begins the stop (stopLocked).
func (s *scheduler) stop() {
	s.mu.Lock()
	s.stopLocked()
	s.mu.Unlock()
}

// stopLocked begins the stop: ending is done, nothing more is claimed,
// claims not started are dropped (not started: not handled; delivered
// again), and every waiter wakes. Idempotent.
func (s *scheduler) stopLocked() {
	if !s.stopping {
		s.stopping = true
		s.endEnding()
	}
	s.takeBackLocked(func(*partState) bool { return true }, false)
	s.work.Broadcast()
	s.space.Broadcast()
	s.idle.Broadcast()
}

// halt stops the consumer gracefully for err (haltLocked): a watcher's
// verdict (a cluster never reached, a topic missing).
func (s *scheduler) halt(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.haltLocked(err)
}

// haltLocked stops the consumer for err, the first reason kept: Run
// returns it.
func (s *scheduler) haltLocked(err error) {
	if s.fatal == nil {
		s.fatal = err
	}
	s.stopLocked()
}

// abort makes the stop immediate: in-flight handlers are cancelled and
// nothing waits for them to finish.
func (s *scheduler) abort() {
	s.mu.Lock()
	// Decided here, not after the wait: a cancelled handler returns at
	// once, and the drain would then look complete.
	s.drainMissed = s.drainMissed || s.inflight > 0
	s.closing = true
	s.stopLocked()
	cancel := s.cancelWork
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// missed reports whether the drain left handlers behind: running now, or
// running when the stop was made immediate.
func (s *scheduler) missed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inflight > 0 || s.drainMissed
}

// stopTimers stops the retry timers (the lanes are done) and returns why
// the consumer halted, if it did.
func (s *scheduler) stopTimers() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for t := range s.timers {
		t.Stop()
	}
	s.brk.stopLocked()
	clear(s.timers)
	return s.fatal
}

// waitIdle waits until done() holds (checked under s.mu) or ctx ends or the
// consumer is closing. It reports whether done() held.
func (s *scheduler) waitIdle(ctx context.Context, done func() bool) bool {
	stopWait := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.idle.Broadcast()
		s.mu.Unlock()
	})
	defer stopWait()
	s.mu.Lock()
	defer s.mu.Unlock()
	for !done() && ctx.Err() == nil && !s.closing {
		s.idle.Wait()
	}
	return done()
}
