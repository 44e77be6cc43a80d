package consumer

import (
	"context"
	"fmt"
	"math"
	"strings"
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
	lastRate := started
	var ep episode
	c.mu.Lock()
	lastDone := g.done
	c.mu.Unlock()
	for {
		select {
		case <-c.stopped:
			return
		case now := <-t.C:
			c.mu.Lock()
			c.rampLocked(now.Sub(started))
			ep.joinLocked(g, now) // before the ends: a catch-up of one tick still counts
			ended := c.endCatchUpsLocked(now)
			done := g.done + g.activeDoneLocked()
			if dt := now.Sub(lastRate); dt >= time.Second {
				g.rate = float64(done-lastDone) / dt.Seconds()
				lastRate, lastDone = now, done
			}
			progress := ep.progressLocked(g, now)
			c.mu.Unlock()
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
		c.work.Broadcast()
	}
}

// allowedLanes is the slow start's current allowance (for tests).
func (c *Consumer) allowedLanes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
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
		// Handled only: expired records take no token, so counting them
		// would put the rate over the cap it kept.
		args = append(args, "handled_rate", int64(math.Round(float64(a.count[howHandled])/s)))
	}
	if ps.revoked {
		args = append(args, "revoked", true)
	}
	return args
}

// observeReplay reports the replay gauges.
func (c *Consumer) observeReplay(_ context.Context, o metric.Observer) error {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
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

// expectedLocked is the "catch-up started" line's expectation for n
// records of a partition's backlog: at the partition's share of the caps,
// the smaller of the RateLimit split over the assigned partitions (every
// one takes tokens while the cap applies) and its own PartitionRateLimit.
// Backlogs larger than a fetch (the ones after a downtime) are fetched
// interleaved and drain side by side at that share; sooner when records
// expire (they take no token), when some partitions have nothing to
// take, or when a small backlog is fetched whole and goes first. Nothing
// without a cap.
func (c *Consumer) expectedLocked(n int64) []any {
	var args []any
	share := 0.0
	if g := c.gate; g.lim != nil {
		share = g.cfg.rate / float64(max(1, len(c.parts)))
		args = append(args, "rate_limit", g.cfg.rate)
	}
	if pr := c.cfg.partRate; pr.rate > 0 {
		args = append(args, "partition_rate_limit", pr.rate)
		if share == 0 || pr.rate < share {
			share = pr.rate
		}
	}
	if share == 0 {
		return nil
	}
	return append(args, "rate_share", math.Round(share*10)/10, "expected", roundDuration(float64(n)/share))
}

// roundDuration rounds s seconds for a log line: to the second from 10 s,
// to a tenth below.
func roundDuration(s float64) time.Duration {
	d := time.Duration(s * float64(time.Second))
	if d >= 10*time.Second {
		return d.Round(time.Second)
	}
	return d.Round(100 * time.Millisecond)
}

// episode is the progress line's frame: the catch-ups from the moment a
// partition enters catch-up to the moment none is in it. Its backlog (the
// denominator) is the sum of its catch-ups' backlogs, so it changes only
// when a partition enters, and the next line says which; its percent
// reaches 100 once, on the line that closes it. Owned by the watcher
// goroutine; the counts it reads are guarded by c.mu.
type episode struct {
	members     []*backlogAcct
	seen        map[*backlogAcct]bool
	began       time.Time
	backlog     int64
	logged      bool // a line of it was logged: it ends with one
	lastLog     time.Time
	grew        []string // partitions that entered since the last line
	grewBy      int64
	rateAt      time.Time
	rated       bool  // a second has passed: the rates are the last second's
	rateDone    int64 // accounted at rateAt
	rateHandled int64 // handled at rateAt
	doneRate    float64
	handledRate float64
}

// joinLocked adds the catch-ups that started since the last tick.
func (e *episode) joinLocked(g *replay, now time.Time) {
	for ps := range g.active {
		a := ps.tracker.acct
		if e.seen[a] {
			continue
		}
		if e.seen == nil {
			*e = episode{seen: make(map[*backlogAcct]bool), began: a.began, lastLog: now, rateAt: now}
		}
		e.seen[a] = true
		e.members = append(e.members, a)
		e.backlog += a.end - a.start
		// What it did before the watcher saw it is no part of the rate.
		e.rateDone += a.accounted()
		e.rateHandled += a.count[howHandled]
		if e.logged {
			e.grewBy += a.end - a.start
			e.grew = append(e.grew, fmt.Sprintf("%s/%d entered with %d", ps.tp.topic, ps.tp.partition, a.end-a.start))
		}
	}
}

// countsLocked returns what the episode's catch-ups have accounted for
// (an ended one all of its backlog: finished, or handed over by a
// revoke), handled and expired; and how many active partitions have
// finished their backlog and wait for their lag to fall under the
// threshold.
func (e *episode) countsLocked(g *replay) (done, handled, expired int64, waiting int) {
	live := make(map[*backlogAcct]bool, len(g.active))
	for ps := range g.active {
		live[ps.tracker.acct] = true
	}
	for _, a := range e.members {
		handled += a.count[howHandled]
		expired += a.count[howExpired]
		if !live[a] {
			done += a.end - a.start
			continue
		}
		done += a.accounted()
		if a.accounted() >= a.end-a.start {
			waiting++
		}
	}
	return done, handled, expired, waiting
}

// progressLocked returns the arguments of a progress line when one is
// due, and of the line that closes the episode when its last catch-up
// has ended (if any line of it was logged); nil otherwise.
func (e *episode) progressLocked(g *replay, now time.Time) []any {
	if len(e.members) == 0 {
		return nil
	}
	done, handled, expired, waiting := e.countsLocked(g)
	// Over the last second; over the time since the episode began until
	// a second has passed.
	if dt := now.Sub(e.rateAt); dt >= time.Second || !e.rated && dt > 0 {
		e.doneRate = float64(done-e.rateDone) / dt.Seconds()
		e.handledRate = float64(handled-e.rateHandled) / dt.Seconds()
		if dt >= time.Second {
			e.rateAt, e.rateDone, e.rateHandled, e.rated = now, done, handled, true
		}
	}
	if len(g.active) == 0 {
		return e.close(handled, expired, now)
	}
	if now.Sub(e.lastLog) < g.cfg.progressEvery {
		return nil
	}
	e.lastLog, e.logged = now, true
	// Never 100 while a partition is in catch-up: rounded down, at most 99.9.
	pct := min(math.Floor(float64(done)*1000/float64(max(e.backlog, 1)))/10, 99.9)
	args := []any{"partitions", len(g.active), "done", done, "backlog", e.backlog, "percent", pct,
		"handled", handled, "expired", expired, "handled_rate", int64(math.Round(e.handledRate))}
	if done < e.backlog && e.doneRate > 0 {
		args = append(args, "eta", roundDuration(float64(e.backlog-done)/e.doneRate))
	}
	if waiting > 0 {
		args = append(args, "lag_over_threshold", waiting)
	}
	if len(e.grew) > 0 {
		args = append(args, "backlog_grew", fmt.Sprintf("+%d: %s", e.grewBy, strings.Join(e.grew, ", ")))
		e.grew, e.grewBy = nil, 0
	}
	return args
}

// close ends the episode and returns the arguments of its closing line,
// the one at 100%; nil when no line of it was logged (its catch-up lines
// tell it all).
func (e *episode) close(handled, expired int64, now time.Time) []any {
	defer func() { *e = episode{} }()
	if !e.logged {
		return nil
	}
	took := now.Sub(e.began)
	return []any{"partitions", len(e.members), "done", e.backlog, "backlog", e.backlog, "percent", 100.0,
		"handled", handled, "expired", expired,
		"handled_rate", int64(math.Round(float64(handled) / max(took.Seconds(), 1e-3))), "took", took.Round(time.Millisecond)}
}
