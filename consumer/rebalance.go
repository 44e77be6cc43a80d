package consumer

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/ordo-go/ordo/internal/quarantine"
	"github.com/ordo-go/ordo/partition"
)

// The rebalance room: kgo's callbacks. assigned sets new partitions up
// (their first look, quarantine sets and replay floors, then their state
// in the scheduler); revoked drains the revoked partitions' records with
// a deadline, cancels what outlived it, and commits before kgo hands them
// over; lost drops partitions without a commit. It holds no state of its
// own: the partitions are the scheduler's, under its lock. kgo runs the
// callbacks on its own goroutine, while a poll is allowed to rebalance.
type rebalancer struct {
	sched        *scheduler
	commits      *committer
	gate         *replay      // replay floors; nil for none
	quar         *quarantiner // the sets, when quarantining
	look         *firstLook
	obs          *observer
	stats        *counters
	log          *slog.Logger
	topics       []string
	drainTimeout time.Duration
	quarantining bool
}

// assigned starts tracking newly assigned partitions. kgo calls it before
// fetching from them.
func (r *rebalancer) assigned(ctx context.Context, cl *kgo.Client, added map[string][]int32) {
	r.look.take(cl, r.topics) // before kgo fetches the offsets: start.go
	var sets map[tp]*quarantine.Set
	if r.quarantining {
		var err error
		if sets, err = r.quar.load(ctx, cl, added); err != nil {
			r.sched.mu.Lock()
			defer r.sched.mu.Unlock()
			r.sched.haltLocked(err) // no state for the partitions: nothing is dispatched
			return
		}
	}
	defer r.gate.assignedFloors(ctx, cl, added, r.sched) // runs after the unlock below
	// A partition over its share when it was revoked may still be paused
	// for it at kgo, which keeps pauses across assignments: its new state
	// starts under its share (fair.go). The user's Pause stays.
	r.sched.fetch.resume(cl, fetchCap, added)
	r.sched.mu.Lock()
	defer r.sched.mu.Unlock()
	for topic, ps := range added {
		for _, p := range ps {
			k := tp{topic, p}
			ps := &partState{
				tp: k, tracker: newTracker(), checker: partition.NewChecker(0),
				keys: make(map[string]*keyQueue), keyless: make(map[*keyQueue]struct{}),
				producers: make(map[string]string),
				hwm:       -1, committed: -1, stuck: partStuck{progressNext: -1, progressAt: time.Now()},
			}
			ps.met.attrs = r.obs.partAttrs(k)
			ps.met.consumedSet = r.obs.opAttrs(ps.met.attrs, "poll", semconv.MessagingOperationTypeReceive)
			ps.met.record = []metric.RecordOption{metric.WithAttributeSet(r.obs.opAttrs(ps.met.attrs, "process", semconv.MessagingOperationTypeProcess))}
			ps.met.add = []metric.AddOption{metric.WithAttributeSet(ps.met.attrs)}
			ps.q = sets[k]
			if old := r.sched.parts[k]; old != nil { // assigned again unrevoked: its idle queues go with it
				r.sched.idleKeys -= old.idleKeys
			}
			r.sched.parts[k] = ps
		}
	}
	r.log.Info("partitions assigned", "partitions", fmt.Sprint(added))
}

// revoked is kgo's revoke callback: records of the revoked partitions that
// have not started are dropped (the next owner reads them again), records in
// flight get up to the drain timeout to finish, and the partitions' commit
// points are committed before kgo hands them over. It never closes the
// client or leaves the group: kgo forbids that from a rebalance callback.
//
// Per-key order across owners rests on this callback: the next owner may
// start a key's later records as soon as it returns. So a handler still
// running at the drain deadline has its ctx cancelled (only the revoked
// partitions' handlers), and the callback waits up to revokeGrace more for
// it to return. A handler that ignores its ctx is still running when the
// partition is handed over: it is logged and counted, and it may overlap
// with the next owner's handling of the same key.
func (r *rebalancer) revoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	parts := r.sched.release(revoked)
	if len(parts) == 0 {
		return
	}
	idle := func() bool {
		for _, ps := range parts {
			if ps.inflight > 0 {
				return false
			}
		}
		return true
	}
	drain, cancel := context.WithTimeout(ctx, r.drainTimeout)
	defer cancel()
	if !r.sched.waitIdle(drain, idle) {
		r.sched.cancelHandlers(parts)
		grace, cancel := context.WithTimeout(ctx, revokeGrace)
		defer cancel()
		if !r.sched.waitIdle(grace, idle) {
			r.reportHandover(parts)
		}
	}
	r.sched.cancelHandlers(parts)
	if err := r.commits.commitParts(ctx, parts); err != nil {
		r.log.Warn("commit on revoke failed", "error", err)
	}
	r.quar.release(parts) // after their last commit
	r.log.Info("partitions revoked", "partitions", fmt.Sprint(revoked))
}

// handlerCtx returns the context for handlers of ps's records. Called
// with the consumer's mu held.
func (ps *partState) handlerCtx(parent context.Context) context.Context {
	if ps.ctx == nil {
		ps.ctx, ps.cancel = context.WithCancel(parent)
	}
	return ps.ctx
}

// cancelHandlers cancels the contexts of parts' handlers.
func (s *scheduler) cancelHandlers(parts []*partState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ps := range parts {
		if ps.cancel != nil {
			ps.cancel()
		}
	}
}

// revokeGrace is how long a revoke waits, after cancelling the handlers
// that outlived the drain timeout, for them to return.
const revokeGrace = time.Second

// reportHandover logs and counts every handler of parts still running as
// its partition is handed over.
func (r *rebalancer) reportHandover(parts []*partState) {
	type running struct {
		r     *kgo.Record
		since time.Duration
	}
	var rs []running
	r.sched.mu.Lock()
	for _, ps := range parts {
		each := func(kq *keyQueue) {
			if kq.running && len(kq.items) > 0 {
				it := kq.items[0]
				rs = append(rs, running{it.rec, time.Since(it.trace.start)})
			}
		}
		for _, kq := range ps.keys {
			each(kq)
		}
		for kq := range ps.keyless {
			each(kq)
		}
	}
	r.sched.mu.Unlock()
	for _, x := range rs {
		r.stats.handedOver.Add(1)
		r.obs.ins.handedOver.Add(context.Background(), 1, metric.WithAttributeSet(r.obs.partAttrs(tp{x.r.Topic, x.r.Partition})))
		r.log.Warn("handler still running as its partition is handed over: it ignored its cancelled ctx, and may overlap with the next owner",
			"topic", x.r.Topic, "partition", x.r.Partition, "offset", x.r.Offset, r.obs.logKey(x.r.Key), "running_for", x.since.Round(time.Millisecond))
	}
}

// lost drops partitions that were taken away without a clean revoke: their
// offsets may already belong to someone else, so nothing is committed.
func (r *rebalancer) lost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	parts := r.sched.release(lost)
	r.sched.cancelHandlers(parts) // someone else may own them already
	r.quar.release(parts)
	r.log.Warn("partitions lost", "partitions", fmt.Sprint(lost))
}

// release marks partitions revoked, drops their records that have not
// started, and forgets them. It returns their states.
func (s *scheduler) release(m map[string][]int32) []*partState {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*partState
	for topic, ps := range m {
		for _, p := range ps {
			k := tp{topic, p}
			st := s.parts[k]
			if st == nil {
				continue
			}
			delete(s.parts, k)
			st.revoked = true
			s.idleKeys -= st.idleKeys                // they go with it
			s.tracked -= st.tracker.pending()        // its finished records count no more
			s.freeOutputsLocked(st.txn.dropLocked()) // the next owner emits them again (txn.go)
			for _, kq := range st.keys {
				s.dropLocked(kq, kq.runningCount())
			}
			for kq := range st.keyless {
				s.dropLocked(kq, kq.runningCount())
			}
			out = append(out, st)
		}
	}
	if len(out) > 0 {
		s.takeBackLocked(func(ps *partState) bool { return ps.revoked }, false)
	}
	s.space.Broadcast()
	return out
}
