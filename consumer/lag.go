package consumer

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// A partition that is not fetched (held by Pause or the open breaker, or
// assigned while paused) has no fetch to tell its high watermark, and one whose first
// record was never dispatched has no commit point: Lag read Records 0 for
// a paused partition with records waiting (the last fetch's watermark),
// or -1 (none yet). So the lag watcher asks the cluster for what fetches
// do not say: the end offsets of the partitions whose fetch is held or
// who have no watermark yet, and the group's committed offsets of those
// without a commit point, every lagEvery.
//
// The room: lagWatch has no state of its own; it writes each partition's
// hwm (only ever raising it: a fetch may have said more meanwhile) and
// committed under the scheduler's lock, once per tick, and makes its
// requests without any lock.
//
// Goroutine: watch, started by Run, counted in c.lanes, stopped when the
// scheduler's ending is done.
const lagEvery = 2 * time.Second

type lagWatch struct {
	sched *scheduler
	adm   *kadm.Client
	group string
}

func (w *lagWatch) watch() {
	t := time.NewTicker(lagEvery)
	defer t.Stop()
	for {
		select {
		case <-w.sched.ending.Done():
			return
		case <-t.C:
		}
		ends, noNext := w.unseen()
		if len(ends) == 0 && len(noNext) == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(w.sched.ending, probeTimeout)
		w.refresh(ctx, ends, noNext)
		cancel()
	}
}

// unseen returns the partitions whose end the fetches do not report
// (held by Pause or the open breaker, or no watermark yet), and those
// with no commit point.
func (w *lagWatch) unseen() (ends, noNext map[string][]int32) {
	s := w.sched
	s.mu.Lock()
	defer s.mu.Unlock()
	ends, noNext = map[string][]int32{}, map[string][]int32{}
	held := s.brk.holding() // the open breaker pauses every partition's fetch (breaker.go)
	for k, ps := range s.parts {
		if ps.hwm < 0 || held || s.paused.holds(k) {
			ends[k.topic] = append(ends[k.topic], k.partition)
		}
		if ps.tracker.next < 0 && ps.committed < 0 {
			noNext[k.topic] = append(noNext[k.topic], k.partition)
		}
	}
	return ends, noNext
}

// refresh reads ends and committed offsets and records them; a failed
// read is tried again at the next tick (Lag keeps saying -1 meanwhile).
func (w *lagWatch) refresh(ctx context.Context, ends, noNext map[string][]int32) {
	var listed kadm.ListedOffsets
	if len(ends) > 0 {
		listed, _ = w.adm.ListEndOffsets(ctx, topicsOf(ends)...)
	}
	var fetched kadm.OffsetResponses
	if len(noNext) > 0 {
		fetched, _ = w.adm.FetchOffsets(ctx, w.group)
	}
	s := w.sched
	s.mu.Lock()
	defer s.mu.Unlock()
	listed.Each(func(o kadm.ListedOffset) {
		if ps := s.parts[tp{o.Topic, o.Partition}]; ps != nil && o.Err == nil && o.Offset > ps.hwm {
			ps.hwm = o.Offset
		}
	})
	fetched.Each(func(o kadm.OffsetResponse) {
		if ps := s.parts[tp{o.Topic, o.Partition}]; ps != nil && o.Err == nil && o.At >= 0 && ps.committed < 0 {
			ps.committed = o.At
		}
	})
}
