package consumer

import (
	"time"
)

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
func (c *Consumer) watch() {
	defer c.lanes.Done()
	t := time.NewTicker(max(c.cfg.stuckAfter/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-c.sched.ending.Done():
			return
		case now := <-t.C:
			for _, r := range c.checkStuck(now) {
				if r.resolved {
					c.log.Info("partition moving again", "topic", r.tp.topic, "partition", r.tp.partition, "offset", r.offset)
					continue
				}
				c.log.Warn("partition stuck", "topic", r.tp.topic, "partition", r.tp.partition, "offset", r.offset,
					c.logKey(r.key), "in_handler", r.running, "attempts", r.attempts, "stuck_for", r.since.Round(time.Millisecond), "lag", r.lag)
			}
		}
	}
}

// checkStuck updates each partition's progress and returns the partitions
// that became stuck or recovered since the last check.
func (c *Consumer) checkStuck(now time.Time) []stuckReport {
	c.sched.mu.Lock()
	defer c.sched.mu.Unlock()
	var out []stuckReport
	for _, ps := range c.sched.parts {
		next := ps.tracker.next
		lag, ok := ps.lag()
		if !ok || lag == 0 || next != ps.progressNext {
			if ps.stuckSince != (time.Time{}) {
				out = append(out, stuckReport{tp: ps.tp, offset: next, resolved: true})
			}
			ps.progressNext, ps.progressAt, ps.stuckSince = next, now, time.Time{}
			continue
		}
		if ps.stuckSince == (time.Time{}) && now.Sub(ps.progressAt) >= c.cfg.stuckAfter {
			ps.stuckSince = now
			r := stuckReport{tp: ps.tp, offset: next, since: now.Sub(ps.progressAt), lag: lag}
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
