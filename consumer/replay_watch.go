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
func (g *replay) replayWatch() {
	reg, err := g.meter.RegisterCallback(g.observeReplay, g.backlog, g.age, g.rateGauge, g.activeGauge)
	if err != nil {
		g.log.Warn("replay metrics not registered", "error", err)
	} else {
		defer reg.Unregister()
	}
	t := time.NewTicker(replayTick)
	defer t.Stop()
	started := time.Now()
	lastRate := started
	var ep episode
	g.sched.mu.Lock()
	lastDone := g.done
	g.sched.mu.Unlock()
	for {
		select {
		case <-g.sched.ending.Done():
			return
		case now := <-t.C:
			g.sched.mu.Lock()
			g.rampLocked(now.Sub(started))
			handled := g.stats.handled.Load()
			ep.joinLocked(g, now, handled) // before the ends: a catch-up of one tick still counts
			ended := g.endCatchUpsLocked(now)
			done := g.done + g.activeDoneLocked()
			if dt := now.Sub(lastRate); dt >= time.Second {
				g.rate = float64(done-lastDone) / dt.Seconds()
				lastRate, lastDone = now, done
			}
			progress := ep.progressLocked(g, now, handled)
			g.sched.mu.Unlock()
			for _, args := range ended {
				g.log.Info("catch-up ended", args...)
			}
			if progress != nil {
				g.log.Info("catch-up progress", progress...)
			}
		}
	}
}

// rampLocked raises the lanes allowed by the slow start, elapsed into the
// warm-up, and wakes parked lanes.
func (g *replay) rampLocked(elapsed time.Duration) {
	if g.allowed >= g.concurrency {
		return
	}
	n := g.concurrency
	if w := g.cfg.warmup; elapsed < w {
		n = 1 + int(int64(g.concurrency-1)*int64(elapsed)/int64(w))
	}
	if n > g.allowed {
		g.allowed = n
		g.sched.work.Broadcast()
	}
}

// allowedLanes is the slow start's current allowance (for tests).
func (g *replay) allowedLanes() int {
	g.sched.mu.Lock()
	defer g.sched.mu.Unlock()
	return g.allowed
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
func (g *replay) endCatchUpsLocked(now time.Time) [][]any {
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
		case ps.tracker.next < a.end || !g.caughtUpLocked(ps, now):
			continue
		}
		delete(g.active, ps)
		ps.tracker.acct = nil
		out = append(out, g.summarizeLocked(ps, a, handedOver, now))
	}
	return out
}

// caughtUpLocked reports whether ps's lag is under the catch-up threshold.
func (g *replay) caughtUpLocked(ps *partState, now time.Time) bool {
	rc := g.cfg
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
func (g *replay) summarizeLocked(ps *partState, a *backlogAcct, handedOver int64, now time.Time) []any {
	backlog := a.end - a.start
	g.totals.add(a, handedOver)
	accounted := a.accounted() + handedOver
	g.done += a.accounted()
	took := now.Sub(a.began)
	args := []any{"topic", ps.tp.topic, "partition", ps.tp.partition, "backlog", backlog,
		"handled", a.count[howHandled], "expired", a.count[howExpired], "dead_lettered", a.count[howDeadLettered],
		"skipped", a.count[howSkipped], "floor", a.floor, "gaps", a.gaps, "handed_over", handedOver,
		"accounted", accounted, "adds_up", accounted == backlog, "took", took.Round(time.Millisecond)}
	// No rate: took runs until the lag is under the threshold, so it
	// covers records that arrived after the backlog; the progress
	// lines give the consumer's rate.
	if ps.revoked {
		args = append(args, "revoked", true)
	}
	return args
}

// observeReplay reports the replay gauges.
func (g *replay) observeReplay(_ context.Context, o metric.Observer) error {
	now := time.Now()
	g.sched.mu.Lock()
	defer g.sched.mu.Unlock()
	o.ObserveInt64(g.activeGauge, int64(len(g.active)))
	o.ObserveFloat64(g.rateGauge, g.rate)
	for ps := range g.active {
		set := metric.WithAttributeSet(ps.met.attrs)
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
func (g *replay) expectedLocked(n int64) []any {
	var args []any
	share := 0.0
	if g.lim != nil {
		share = g.cfg.rate / float64(max(1, len(g.sched.parts)))
		args = append(args, "rate_limit", g.cfg.rate)
	}
	if pr := g.partRate; pr.rate > 0 {
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
// goroutine; what it reads of the catch-ups is guarded by c.sched.mu.
type episode struct {
	members  []*member
	seen     map[*backlogAcct]bool
	began    time.Time
	handled0 int64 // the consumer's handled count when it began
	backlog  int64
	logged   bool // a line of it was logged: it ends with one
	lastLog  time.Time
	grew     []string // partitions that entered since the last line
	grewBy   int64
	rate     rateWindow
}

// member is a catch-up of an episode.
type member struct {
	ps    *partState
	a     *backlogAcct
	lag   int64 // at the last tick, while in catch-up
	ended bool
}

// rateWindow measures the consumer's handled rate and how fast the lag
// of the partitions in catch-up shrinks, over the last second (since the
// episode began, until a second has passed).
type rateWindow struct {
	at                     time.Time
	full                   bool  // a second has passed
	handled, lag           int64 // at at
	handledRate, lagShrink float64
}

func (w *rateWindow) observe(now time.Time, handled, lag int64) {
	dt := now.Sub(w.at)
	if dt <= 0 || w.full && dt < time.Second {
		return
	}
	w.handledRate = float64(handled-w.handled) / dt.Seconds()
	w.lagShrink = float64(w.lag-lag) / dt.Seconds()
	if dt >= time.Second {
		w.at, w.handled, w.lag, w.full = now, handled, lag, true
	}
}

// joinLocked adds the catch-ups that started since the last tick;
// handled is the consumer's handled count.
func (e *episode) joinLocked(g *replay, now time.Time, handled int64) {
	for ps := range g.active {
		a := ps.tracker.acct
		if e.seen[a] {
			continue
		}
		if e.seen == nil {
			*e = episode{seen: make(map[*backlogAcct]bool), began: a.began, handled0: handled, lastLog: now,
				rate: rateWindow{at: now, handled: handled}}
		}
		lag, _ := ps.lag()
		e.seen[a] = true
		e.members = append(e.members, &member{ps: ps, a: a, lag: lag})
		e.backlog += a.end - a.start
		e.rate.lag += lag // an entering partition's lag is no growth
		if e.logged {
			e.grewBy += a.end - a.start
			e.grew = append(e.grew, fmt.Sprintf("%s/%d entered with %d", ps.tp.topic, ps.tp.partition, a.end-a.start))
		}
	}
}

// tally is an episode's state at a tick.
type tally struct {
	done, handled, expired int64 // of the backlog; an ended catch-up has all of its backlog done (finished, or handed over by a revoke)
	lag                    int64 // of the partitions in catch-up
	active, waiting        int   // partitions in catch-up; those with their backlog done, waiting for their lag to fall under the threshold
}

// tallyLocked counts the episode's catch-ups, and takes the lag of those
// that ended since the last tick out of the rate's baseline (a partition
// leaving is no shrinking).
func (e *episode) tallyLocked(g *replay) tally {
	var t tally
	for _, m := range e.members {
		a := m.a
		t.handled += a.count[howHandled]
		t.expired += a.count[howExpired]
		if _, in := g.active[m.ps]; !m.ended && (!in || m.ps.tracker.acct != a) {
			m.ended = true
			e.rate.lag -= m.lag
		}
		if m.ended {
			t.done += a.end - a.start
			continue
		}
		m.lag, _ = m.ps.lag()
		t.done += a.accounted()
		t.lag += m.lag
		t.active++
		if a.accounted() >= a.end-a.start {
			t.waiting++
		}
	}
	return t
}

// progressLocked returns the arguments of a progress line when one is
// due, and of the line that closes the episode when its last catch-up
// has ended (if any line of it was logged); nil otherwise. handled is
// the consumer's handled count.
func (e *episode) progressLocked(g *replay, now time.Time, handled int64) []any {
	if len(e.members) == 0 {
		return nil
	}
	t := e.tallyLocked(g)
	e.rate.observe(now, handled, t.lag)
	if t.active == 0 {
		return e.close(t, handled, now)
	}
	if now.Sub(e.lastLog) < g.cfg.progressEvery {
		return nil
	}
	e.lastLog, e.logged = now, true
	// Never 100 while a partition is in catch-up: rounded down, at most 99.9.
	pct := min(math.Floor(float64(t.done)*1000/float64(max(e.backlog, 1)))/10, 99.9)
	args := []any{"partitions", t.active, "done", t.done, "backlog", e.backlog, "percent", pct,
		"handled", t.handled, "expired", t.expired, "handled_rate", int64(math.Round(e.rate.handledRate)), "lag", t.lag}
	// The catch-up ends when every lag is under the threshold (and the
	// backlog done): at the rate the lag shrinks, which is the handled
	// and expired rate less what arrives.
	if left := max(t.lag-int64(t.active)*g.cfg.backlogRecords, e.backlog-t.done); e.rate.lagShrink > 0 {
		args = append(args, "eta", roundDuration(float64(max(left, 0))/e.rate.lagShrink))
	}
	if t.waiting > 0 {
		args = append(args, "lag_over_threshold", t.waiting)
	}
	if len(e.grew) > 0 {
		args = append(args, "backlog_grew", fmt.Sprintf("+%d: %s", e.grewBy, strings.Join(e.grew, ", ")))
		e.grew, e.grewBy = nil, 0
	}
	return args
}

// close ends the episode and returns the arguments of its closing line,
// the one at 100%; nil when no line of it was logged (its catch-up lines
// tell it all). Its handled_rate is the consumer's over the episode.
func (e *episode) close(t tally, handled int64, now time.Time) []any {
	defer func() { *e = episode{} }()
	if !e.logged {
		return nil
	}
	took := now.Sub(e.began)
	return []any{"partitions", len(e.members), "done", e.backlog, "backlog", e.backlog, "percent", 100.0,
		"handled", t.handled, "expired", t.expired,
		"handled_rate", int64(math.Round(float64(handled-e.handled0) / max(took.Seconds(), 1e-3))), "took", took.Round(time.Millisecond)}
}
