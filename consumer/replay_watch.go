package consumer

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/metric"
)

// replayTick is how often the replay watcher looks at the catch-ups and
// the slow start.
const replayTick = 100 * time.Millisecond

// replayWatch runs until the consumer stops: it raises the slow start's
// allowed lanes, ends catch-ups, measures the rate and logs progress.
func (c *Consumer) replayWatch() {
	defer c.lanes.Done()
	g := c.gate
	reg, err := c.tel.Meter().RegisterCallback(c.observeReplay, g.backlog, g.age, g.rateGauge, g.activeGauge)
	if err != nil {
		c.log.Warn("replay metrics not registered", "error", err)
	} else {
		defer reg.Unregister()
	}
	t := time.NewTicker(replayTick)
	defer t.Stop()
	started := time.Now()
	lastRate, lastLog := started, started
	c.sched.mu.Lock()
	lastDone := g.done
	c.sched.mu.Unlock()
	for {
		select {
		case <-c.sched.ending.Done():
			return
		case now := <-t.C:
			c.sched.mu.Lock()
			c.rampLocked(now.Sub(started))
			ended := c.endCatchUpsLocked(now)
			done := g.done + g.activeDoneLocked()
			if dt := now.Sub(lastRate); dt >= time.Second {
				g.rate = float64(done-lastDone) / dt.Seconds()
				lastRate, lastDone = now, done
			}
			var progress []any
			if len(g.active) > 0 && now.Sub(lastLog) >= g.cfg.progressEvery {
				lastLog = now
				progress = c.progressLocked()
			}
			c.sched.mu.Unlock()
			for _, args := range ended {
				c.log.Info("catch-up ended", args...)
			}
			if progress != nil {
				c.log.Info("catch-up progress", progress...)
			}
		}
	}
}

// rampLocked raises the lanes allowed by the slow start, elapsed into the
// warm-up, and wakes parked lanes.
func (c *Consumer) rampLocked(elapsed time.Duration) {
	g := c.gate
	if g.allowed >= g.concurrency {
		return
	}
	n := g.concurrency
	if w := g.cfg.warmup; elapsed < w {
		n = 1 + int(int64(g.concurrency-1)*int64(elapsed)/int64(w))
	}
	if n > g.allowed {
		g.allowed = n
		c.sched.work.Broadcast()
	}
}

// allowedLanes is the slow start's current allowance (for tests).
func (c *Consumer) allowedLanes() int {
	c.sched.mu.Lock()
	defer c.sched.mu.Unlock()
	if c.gate == nil {
		return c.cfg.concurrency
	}
	return c.gate.allowed
}

// activeDoneLocked is what the active catch-ups have accounted so far.
func (g *replay) activeDoneLocked() int64 {
	var n int64
	for ps := range g.active {
		n += ps.tracker.acct.accounted()
	}
	return n
}

// endCatchUpsLocked ends the catch-ups whose backlog is finished and
// whose lag is under the threshold, and those of revoked partitions
// whose handlers have returned (the rest of their backlog is handed
// over). It returns the summaries to log.
func (c *Consumer) endCatchUpsLocked(now time.Time) [][]any {
	g := c.gate
	var out [][]any
	for ps := range g.active {
		a := ps.tracker.acct
		var handedOver int64
		switch {
		case ps.revoked:
			if ps.inflight > 0 {
				continue // its last records may still finish
			}
			handedOver = max(0, a.end-a.start-a.accounted())
		case ps.tracker.next < a.end || !c.caughtUpLocked(ps, now):
			continue
		}
		delete(g.active, ps)
		ps.tracker.acct = nil
		out = append(out, c.summarizeLocked(ps, a, handedOver, now))
	}
	return out
}

// caughtUpLocked reports whether ps's lag is under the catch-up threshold.
func (c *Consumer) caughtUpLocked(ps *partState, now time.Time) bool {
	rc := c.gate.cfg
	lag, ok := ps.lag()
	if !ok || rc.backlogRecords > 0 && lag >= rc.backlogRecords {
		return false
	}
	if ts, ok := ps.oldestPending(); ok && rc.backlogAge > 0 && now.Sub(ts) >= rc.backlogAge {
		return false
	}
	return true
}

// summarizeLocked adds an ended catch-up to the totals and returns its
// log line's arguments.
func (c *Consumer) summarizeLocked(ps *partState, a *backlogAcct, handedOver int64, now time.Time) []any {
	g := c.gate
	backlog := a.end - a.start
	g.totals.add(a, handedOver)
	accounted := a.accounted() + handedOver
	g.done += a.accounted()
	took := now.Sub(a.began)
	args := []any{"topic", ps.tp.topic, "partition", ps.tp.partition, "backlog", backlog,
		"handled", a.count[howHandled], "expired", a.count[howExpired], "dead_lettered", a.count[howDeadLettered],
		"skipped", a.count[howSkipped], "floor", a.floor, "gaps", a.gaps, "handed_over", handedOver,
		"accounted", accounted, "adds_up", accounted == backlog, "took", took.Round(time.Millisecond)}
	if s := took.Seconds(); s > 0 {
		args = append(args, "rate", float64(a.accounted()-a.floor)/s)
	}
	if ps.revoked {
		args = append(args, "revoked", true)
	}
	return args
}

// progressLocked returns the arguments of a progress line over the active
// catch-ups: percent done, rate, ETA.
func (c *Consumer) progressLocked() []any {
	g := c.gate
	var total, done int64
	for ps := range g.active {
		a := ps.tracker.acct
		total += a.end - a.start
		done += a.accounted()
	}
	pct := 100.0
	if total > 0 {
		pct = float64(done) * 100 / float64(total)
	}
	args := []any{"partitions", len(g.active), "done", done, "backlog", total,
		"percent", float64(int(pct*10)) / 10, "rate", float64(int(g.rate*10)) / 10}
	if g.rate > 0 {
		args = append(args, "eta", time.Duration(float64(total-done)/g.rate*float64(time.Second)).Round(time.Second))
	}
	return args
}

// observeReplay reports the replay gauges.
func (c *Consumer) observeReplay(_ context.Context, o metric.Observer) error {
	now := time.Now()
	c.sched.mu.Lock()
	defer c.sched.mu.Unlock()
	g := c.gate
	o.ObserveInt64(g.activeGauge, int64(len(g.active)))
	o.ObserveFloat64(g.rateGauge, g.rate)
	for ps := range g.active {
		set := metric.WithAttributeSet(ps.attrs)
		if lag, ok := ps.lag(); ok {
			o.ObserveInt64(g.backlog, lag, set)
		}
		age := 0.0
		if ts, ok := ps.oldestPending(); ok {
			age = now.Sub(ts).Seconds()
		}
		o.ObserveFloat64(g.age, age, set)
	}
	return nil
}
