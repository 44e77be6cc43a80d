package consumer

import (
	"log/slog"
	"time"

	"github.com/ordo-go/ordo/internal/telemetry"
)

// The stuck watcher: a goroutine of Run (watch), counted in
// Consumer.lanes, stopped when the scheduler's ending is done. Its state
// is the partitions' progressNext, progressAt and stuckSince, read and
// written under the scheduler's lock (grabbed once per tick, by check);
// Lag and the observer read stuckSince under the same lock. limit and
// quiet are the watch goroutine's own.
//
// While the breaker is open every partition with lag stops moving, for
// one reason the breaker's own line has already given: a WARN per
// partition said it again once per partition (hundreds of lines for a
// topic of hundreds of partitions, and as many "moving again" after).
// So a partition that becomes stuck while the breaker is open is counted
// in one summary line, at most once a minute, and its recovery in one
// line per check; Lag, Ready and ordo.consumer.stuck still tell each
// partition.
type stuckWatch struct {
	sched *scheduler
	after time.Duration // StuckAfter
	log   *slog.Logger
	tel   telemetry.Config // LogKey
	limit telemetry.LogLimit
	quiet map[tp]struct{} // reported stuck in a summary, not on their own
}

// stuckSummaryEvery spaces the summary lines of partitions stuck behind
// the open breaker.
const stuckSummaryEvery = time.Minute

// stuckReport is what the watcher found about one partition.
type stuckReport struct {
	tp       tp
	offset   int64
	key      []byte
	attempts int  // attempts so far, when not being handled now
	running  bool // a lane is handling the record now
	since    time.Duration
	lag      int64
	resolved bool
}

// watch looks for stuck partitions until the consumer stops. A stuck
// partition is one with lag whose commit point has not moved for the stuck
// threshold. That is a record whose handler hangs or keeps failing, or a key parked behind
// one; the warning names the partition, the offset and the key.
func (w *stuckWatch) watch() {
	t := time.NewTicker(max(w.after/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-w.sched.ending.Done():
			return
		case now := <-t.C:
			w.report(w.checkStuck(now), now)
		}
	}
}

// report logs what checkStuck found: a line per partition, or while the
// breaker is open, one line for all (see stuckWatch).
func (w *stuckWatch) report(rs []stuckReport, now time.Time) {
	held := w.sched.brk.holding()
	stuck, moving := 0, 0
	for _, r := range rs {
		_, quiet := w.quiet[r.tp]
		switch {
		case r.resolved && quiet:
			delete(w.quiet, r.tp)
			moving++
		case r.resolved:
			w.log.Info("partition moving again", "topic", r.tp.topic, "partition", r.tp.partition, "offset", r.offset)
		case held:
			if w.quiet == nil {
				w.quiet = make(map[tp]struct{})
			}
			w.quiet[r.tp] = struct{}{}
			stuck++
		default:
			w.log.Warn("partition stuck", "topic", r.tp.topic, "partition", r.tp.partition, "offset", r.offset,
				w.tel.LogKey(r.key), "in_handler", r.running, "attempts", r.attempts, "stuck_for", r.since.Round(time.Millisecond), "lag", r.lag)
		}
	}
	if stuck > 0 {
		if ok, _ := w.limit.Allow("stuck", now); ok {
			w.log.Warn("partitions stuck behind the open breaker", "partitions", len(w.quiet), "stuck_after", w.after)
		}
	}
	if moving > 0 {
		w.log.Info("partitions moving again", "partitions", moving, "still_stuck", len(w.quiet))
	}
}

// checkStuck updates each partition's progress and returns the partitions
// that became stuck or recovered since the last check.
func (w *stuckWatch) checkStuck(now time.Time) []stuckReport {
	w.sched.mu.Lock()
	defer w.sched.mu.Unlock()
	var out []stuckReport
	for _, ps := range w.sched.parts {
		next := ps.tracker.next
		lag, ok := ps.lag()
		if !ok || lag == 0 || next != ps.stuck.progressNext {
			if ps.stuck.stuckSince != (time.Time{}) {
				out = append(out, stuckReport{tp: ps.tp, offset: next, resolved: true})
			}
			ps.stuck.progressNext, ps.stuck.progressAt, ps.stuck.stuckSince = next, now, time.Time{}
			continue
		}
		if ps.stuck.stuckSince == (time.Time{}) && now.Sub(ps.stuck.progressAt) >= w.after {
			ps.stuck.stuckSince = now
			r := stuckReport{tp: ps.tp, offset: next, since: now.Sub(ps.stuck.progressAt), lag: lag}
			if kq := ps.queueAt(next); kq != nil {
				// A running record's attempt count belongs to its lane.
				r.key, r.running = kq.items[0].rec.Key, kq.running
				if !kq.running {
					r.attempts = kq.items[0].try.attempts
				}
			}
			out = append(out, r)
		}
	}
	return out
}

// queueAt finds the queue whose head record is at offset, if any.
func (ps *partState) queueAt(offset int64) *keyQueue {
	for _, kq := range ps.keys {
		if len(kq.items) > 0 && kq.items[0].rec.Offset == offset {
			return kq
		}
	}
	for kq := range ps.keyless {
		if len(kq.items) > 0 && kq.items[0].rec.Offset == offset {
			return kq
		}
	}
	return nil
}
