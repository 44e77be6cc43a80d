package consumer

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ordo-go/ordo/consumer/dlq"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"golang.org/x/time/rate"
)

// Replay after downtime: the dispatch gate.
//
// A partition's first fetched record after an assignment measures its
// backlog (its offset to the high watermark of that fetch) and its age;
// above a threshold the partition is in catch-up until that backlog is
// finished and its lag is under the threshold again. The gate bounds what
// the lanes take:
//
//	rate cap      a lane holds a token of the consumer's bucket before it
//	              takes the oldest ready key; it waits for one on its own
//	              timer with the scheduler's lock released, holding no key, so handlers
//	              never sleep and revokes never wait for it
//	slow start    lanes above the allowed count are parked in nextLocked;
//	              the watcher raises the count over the warm-up
//	age window    a lane about to handle a record older than MaxAge
//	              expires it instead (skip, or dead-letter); it takes no
//	              token
//	floor         assigned partitions' first offsets at or after the floor
//	              time are looked up on assignment; a partition whose first
//	              record is older jumps there (the commit point at once, the
//	              fetch through kgo's SetOffsets from the poll goroutine)
//
// Accounting: while a partition is in catch-up, its tracker counts every
// offset of the backlog as the commit point passes it, by how the record
// ended (tracker.finishAs), and the offsets with no record (gaps); the
// floor's offsets are counted when they are passed over. What is counted
// is what is committed, so a revoke hands the rest to the next owner
// without double counting.
//
// Locks: every field of replay and partReplay is guarded by the
// scheduler's lock (the gate is asked under it: the "dispatch gated"
// seam), except lim (it has its own lock), expiredLogged (atomic), the
// instruments, log and cfg (immutable). Goroutines: replayWatch, started
// by Run, counted in Consumer.lanes, stopped by the scheduler's ending:
// the slow start's ramp, catch-up ends, progress and metrics.

// The ways a record of a backlog ends, as the tracker counts them.
const (
	howHandled uint8 = iota
	howSkipped
	howExpired
	howDeadLettered
	howKinds
)

// howOf maps an outcome's name to its kind.
func howOf(outcome string) uint8 {
	switch outcome {
	case "skipped":
		return howSkipped
	case "expired":
		return howExpired
	case "dead-lettered": // quarantined records too: deadLettered names them so
		return howDeadLettered
	}
	return howHandled
}

// ErrExpired is the cause given for a record passed over by the age
// window ([MaxAge]).
var ErrExpired = errors.New("consumer: record older than the age window")

// errNoDeadLetter is why New refuses ExpireDeadLetter without a
// dead-letter topic.
var errNoDeadLetter = errors.New("dead-letter topic not configured: use DeadLetterTopic")

// replay is the dispatch gate: catch-up, rate, slow start, age window and
// floor.
type replay struct {
	cfg         replayConfig
	concurrency int
	partRate    partRate     // PartitionRateLimit, for the catch-up's log line
	sched       *scheduler   // its partitions, read under its lock (the gate is called with it held)
	stats       *counters    // handled records, for the progress line
	meter       metric.Meter // the gauges are registered while the watcher runs
	log         *slog.Logger
	lim         *rate.Limiter                        // nil without RateLimit
	allowed     int                                  // lanes that may take work
	active      map[*partState]struct{}              // partitions in catch-up
	totals      ReplayStats                          // ended catch-ups; Active and Remaining are filled by ReplayStats
	seeks       map[string]map[int32]kgo.EpochOffset // floors for the poll goroutine to seek to
	done        int64                                // offsets accounted by every catch-up, for the rate
	rate        float64                              // records/s accounted, over the last second
	skipped     metric.Int64Counter
	expiredOpt  metric.AddOption
	floorOpt    metric.AddOption
	backlog     metric.Int64ObservableGauge
	age         metric.Float64ObservableGauge
	rateGauge   metric.Float64ObservableGauge
	activeGauge metric.Int64ObservableGauge
}

// partReplay is a partition's replay state, in its partState.
type partReplay struct {
	seen          bool        // its first record was dispatched: measured
	floor         int64       // first offset at or after ReplayFloor; 0 for none
	expiredLogged atomic.Bool // an expired record of it was logged (by a lane, without a lock)
}

// backlogAcct is one partition's catch-up: its backlog and how its
// records ended. The tracker fills count and gaps.
type backlogAcct struct {
	start, end int64           // the backlog: offsets [start, end)
	floor      int64           // offsets passed over by the floor
	count      [howKinds]int64 // records passed by the commit point, by how they ended
	gaps       int64           // offsets with no record (compaction, transaction markers)
	began      time.Time
	age        time.Duration // of its oldest record at the start
}

// pass counts the record at offset, which ended as how, as the commit
// point moves over it from next.
func (a *backlogAcct) pass(next, offset int64, how uint8) {
	if offset >= a.end {
		a.gaps += max(0, a.end-next)
		return
	}
	a.count[how]++
	a.gaps += max(0, offset-next)
}

// accounted is the number of offsets of the backlog accounted for.
func (a *backlogAcct) accounted() int64 {
	n := a.floor + a.gaps
	for _, v := range a.count {
		n += v
	}
	return n
}

// ReplayStats accounts for the backlogs of catch-ups: every offset of a
// backlog is handled, skipped (failure policy), expired (age window),
// dead-lettered, passed over by the floor, a gap with no record
// (compaction, transaction markers), or handed over unfinished to the
// partition's next owner by a revoke. Backlog and the counts cover every
// catch-up so far, ended or active; a record is counted once the commit
// point has passed it. Backlog == Accounted() + Remaining at all times.
type ReplayStats struct {
	CatchUps     int64   // catch-ups started
	Active       int     // partitions in catch-up now
	Remaining    int64   // offsets of the active catch-ups' backlogs not yet accounted for
	Rate         float64 // records/s accounted over the last second
	Backlog      int64
	Handled      int64
	Skipped      int64
	Expired      int64
	DeadLettered int64
	Floor        int64
	Gaps         int64
	HandedOver   int64
}

// Accounted is the sum of every way a backlog's offsets ended.
func (s ReplayStats) Accounted() int64 {
	return s.Handled + s.Skipped + s.Expired + s.DeadLettered + s.Floor + s.Gaps + s.HandedOver
}

// add counts a catch-up's backlog and how its offsets ended.
func (s *ReplayStats) add(a *backlogAcct, handedOver int64) {
	s.Backlog += a.end - a.start
	s.Handled += a.count[howHandled]
	s.Skipped += a.count[howSkipped]
	s.Expired += a.count[howExpired]
	s.DeadLettered += a.count[howDeadLettered]
	s.Floor += a.floor
	s.Gaps += a.gaps
	s.HandedOver += handedOver
}

// ReplayStats returns the accounting of the consumer's catch-ups. It is
// safe to call at any time.
func (c *Consumer) ReplayStats() ReplayStats {
	c.sched.mu.Lock()
	defer c.sched.mu.Unlock()
	g := c.gate
	if g == nil {
		return ReplayStats{}
	}
	s := g.totals
	s.Active, s.Rate = len(g.active), g.rate
	for ps := range g.active {
		a := ps.tracker.acct
		s.add(a, 0)
		s.Remaining += max(0, a.end-a.start-a.accounted())
	}
	return s
}

// newReplay makes the gate when a replay option (or the default
// catch-up detection) needs it.
func newReplay(cfg *config, log *slog.Logger, m metric.Meter) (*replay, error) {
	rc := cfg.replay
	if !rc.enabled() {
		return nil, nil
	}
	g := &replay{
		cfg: rc, concurrency: cfg.concurrency, allowed: cfg.concurrency,
		partRate: cfg.partRate, log: log, meter: m,
		active: make(map[*partState]struct{}),
	}
	if rc.rate > 0 {
		g.lim = rate.NewLimiter(rate.Limit(rc.rate), rc.burst)
	}
	if rc.warmup > 0 {
		g.allowed = 1
	}
	var err error
	if g.skipped, err = m.Int64Counter("ordo.replay.skipped", metric.WithUnit("{record}"),
		metric.WithDescription("Records of a replay not handled, by reason: expired (age window) or floor (before the replay floor).")); err != nil {
		return nil, err
	}
	if g.backlog, err = m.Int64ObservableGauge("ordo.replay.backlog", metric.WithUnit("{record}"),
		metric.WithDescription("Lag of a partition in catch-up.")); err != nil {
		return nil, err
	}
	if g.age, err = m.Float64ObservableGauge("ordo.replay.age", metric.WithUnit("s"),
		metric.WithDescription("Age of the oldest unfinished record of a partition in catch-up.")); err != nil {
		return nil, err
	}
	if g.rateGauge, err = m.Float64ObservableGauge("ordo.replay.rate", metric.WithUnit("{record}/s"),
		metric.WithDescription("Records of catch-up backlogs accounted per second, over the last second.")); err != nil {
		return nil, err
	}
	if g.activeGauge, err = m.Int64ObservableGauge("ordo.replay.active", metric.WithUnit("{partition}"),
		metric.WithDescription("Partitions in catch-up.")); err != nil {
		return nil, err
	}
	g.expiredOpt = metric.WithAttributeSet(attribute.NewSet(attribute.String("ordo.replay.reason", "expired")))
	g.floorOpt = metric.WithAttributeSet(attribute.NewSet(attribute.String("ordo.replay.reason", "floor")))
	return g, nil
}

// The "dispatch gated" seam: what the scheduler asks the gate, under its
// lock, as a lane claims work (scheduler.claimLocked). Each method is safe
// on a nil gate, which gates nothing.

// parkedLocked reports whether a lane must not take work now: the slow
// start allows fewer lanes than inflight, the records being handled.
func (g *replay) parkedLocked(inflight int) bool {
	return g.slowStartingLocked() && inflight >= g.allowed
}

// slowStartingLocked reports whether the slow start holds lanes back.
func (g *replay) slowStartingLocked() bool {
	return g != nil && g.allowed < g.concurrency
}

// limitingLocked reports whether the rate cap applies now.
func (g *replay) limitingLocked() bool {
	return g != nil && g.lim != nil && (g.cfg.scope == Always || len(g.active) > 0)
}

// laneToken is a lane's part of the rate cap: whether it holds a token,
// and the timer it waits for one on (one per lane: no allocation per
// record).
type laneToken struct {
	paid  bool
	timer *time.Timer
}

// newLaneToken returns the lane's token state; nil when there is no cap.
func (g *replay) newLaneToken() *laneToken {
	if g == nil || g.lim == nil {
		return nil
	}
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &laneToken{timer: t}
}

// waitTokenLocked makes sure the lane holds a token before it takes a
// key. It reports whether it released mu, the scheduler's lock, to wait
// for one (until the token is due or stop is closed): the caller must
// then look at the ready keys again.
func (g *replay) waitTokenLocked(lt *laneToken, mu *sync.Mutex, stop <-chan struct{}) bool {
	if lt == nil || lt.paid || !g.limitingLocked() {
		return false
	}
	now := time.Now()
	d := g.lim.ReserveN(now, 1).DelayFrom(now)
	lt.paid = true
	if d <= 0 {
		return false
	}
	mu.Unlock()
	lt.timer.Reset(d)
	select {
	case <-lt.timer.C:
	case <-stop:
		lt.timer.Stop()
	}
	mu.Lock()
	return true
}

// takenLocked spends the lane's token on it, unless it is expired: an
// expired record costs the downstream nothing.
func (g *replay) takenLocked(lt *laneToken, it *item) {
	if lt != nil && (g.cfg.maxAge == 0 || !g.expired(it.rec.Timestamp, time.Now())) {
		lt.paid = false
	}
}

// expired reports whether a record with timestamp ts is out of the age
// window at now.
func (g *replay) expired(ts, now time.Time) bool {
	return g != nil && g.cfg.maxAge > 0 && now.Sub(ts) > g.cfg.maxAge
}

// processOrExpire handles it, or expires it when it is out of the age
// window.
func (p *pipeline) processOrExpire(ctx context.Context, ps *partState, it *item, memo *writerMemo) outcome {
	if g := p.gate; g != nil && g.cfg.maxAge > 0 && g.expired(it.rec.Timestamp, time.Now()) {
		return p.expire(ctx, ps, it)
	}
	return p.process(ctx, ps, it, memo)
}

// expire finishes a record out of the age window without handling it:
// skipped or dead-lettered, counted, and logged (the first of each
// partition; the catch-up summary counts them all).
func (p *pipeline) expire(ctx context.Context, ps *partState, it *item) outcome {
	g, r := p.gate, it.rec
	var out outcome
	if g.cfg.expire == ExpireDeadLetter {
		// The dead-letter path of any failed record: written and
		// acknowledged before the offset is marked, retried while the
		// topic cannot be written, a halt after DeadLetterPatience.
		if it.dl == nil {
			re := &RecordError{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Key: r.Key,
				Stage: StageReplay, Class: ClassPermanent, Reason: dlq.Expired, Err: ErrExpired,
				Record: r, redactKey: p.obs.tel.RedactKeys}
			it.dl = &deadState{re: re, since: time.Now()}
		}
		if out = p.deadLetter(ctx, it); !out.done {
			return out // retry, halt, or abandoned
		}
		out.outcome = "expired" // counted by the replay as expired, written to the DLT
	} else {
		out = finishedElsewhere("expired", ErrExpired)
	}
	g.skipped.Add(ctx, 1, g.expiredOpt)
	first := ps.replay.expiredLogged.CompareAndSwap(false, true)
	if first {
		p.log.Warn("record older than the age window not handled; further ones of the partition are counted in the catch-up summary",
			"topic", r.Topic, "partition", r.Partition, "offset", r.Offset, p.obs.logKey(r.Key),
			"age", time.Since(r.Timestamp).Round(time.Millisecond), "max_age", g.cfg.maxAge, "policy", g.cfg.expire.String())
	}
	return out
}

// assignedFloors looks up the floor offsets of newly assigned partitions,
// on kgo's goroutine before it fetches their committed offsets. A failed
// lookup is logged; those partitions replay without a floor.
//
// It uses the client kgo hands the callback: c.cl is set by New after
// kgo's client exists, and a callback may run before that store is seen.
func (g *replay) assignedFloors(ctx context.Context, cl *kgo.Client, added map[string][]int32, s *scheduler) {
	if g == nil || g.cfg.floor.IsZero() || len(added) == 0 {
		return
	}
	topics := make([]string, 0, len(added))
	for t := range added {
		topics = append(topics, t)
	}
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	listed, err := kadm.NewClient(cl).ListOffsetsAfterMilli(lctx, g.cfg.floor.UnixMilli(), topics...)
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		g.log.Warn("replay floor lookup failed: these partitions replay without a floor", "floor", g.cfg.floor, "error", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	listed.Each(func(o kadm.ListedOffset) {
		if o.Err == nil && o.Offset >= 0 {
			if ps := s.parts[tp{o.Topic, o.Partition}]; ps != nil && !ps.replay.seen {
				ps.replay.floor = o.Offset
			}
		}
	})
}

// admitLocked is asked for each fetched record of ps before it is queued.
// The first record after an assignment measures the partition's backlog
// and may start a catch-up; a record below the floor is passed over
// (counted with the floor's offsets) and admitLocked reports true.
func (g *replay) admitLocked(ps *partState, r *kgo.Record) bool {
	if g == nil || ps == nil || ps.revoked {
		return false
	}
	pr := &ps.replay
	if !pr.seen {
		pr.seen = true
		g.measureLocked(ps, r)
	}
	return r.Offset < pr.floor
}

// measureLocked measures a partition's backlog at its first record r,
// applies the floor, and starts a catch-up above the threshold.
func (g *replay) measureLocked(ps *partState, r *kgo.Record) {
	now := time.Now()
	start, end := r.Offset, max(ps.hwm, r.Offset+1)
	age := now.Sub(r.Timestamp)
	var floor int64
	if ps.replay.floor > start {
		floor = min(ps.replay.floor, end) - start
		ps.replay.floor = start + floor
		ps.tracker.skipTo(ps.replay.floor)
		ps.commit.dirty = true
		if g.seeks == nil {
			g.seeks = make(map[string]map[int32]kgo.EpochOffset)
		}
		if g.seeks[ps.tp.topic] == nil {
			g.seeks[ps.tp.topic] = make(map[int32]kgo.EpochOffset)
		}
		g.seeks[ps.tp.topic][ps.tp.partition] = kgo.EpochOffset{Epoch: -1, Offset: ps.replay.floor}
		g.skipped.Add(context.Background(), floor, g.floorOpt)
		age = min(age, now.Sub(g.cfg.floor))
		g.log.Warn("replay floor: records before it are not replayed", "topic", ps.tp.topic, "partition", ps.tp.partition,
			"floor", g.cfg.floor, "from", start, "to", ps.replay.floor, "passed_over", floor)
	}
	backlog := end - start
	rc := g.cfg
	if !(rc.backlogRecords > 0 && backlog >= rc.backlogRecords || rc.backlogAge > 0 && age >= rc.backlogAge) {
		if floor > 0 { // no catch-up, but the floor's offsets are accounted for
			g.totals.Floor += floor
			g.totals.Backlog += floor // its own backlog, accounted at once
			g.done += floor
		}
		return
	}
	a := &backlogAcct{start: start, end: end, floor: floor, began: now, age: age}
	ps.tracker.acct = a
	g.active[ps] = struct{}{}
	g.totals.CatchUps++
	args := []any{"topic", ps.tp.topic, "partition", ps.tp.partition, "backlog", backlog,
		"age", age.Round(time.Second), "from", start, "to", end}
	args = append(args, g.expectedLocked(backlog-floor)...)
	g.log.Info("catch-up started", args...)
}

// seek moves the fetch of partitions that jumped to their floor.
// Called by the poll goroutine before it allows a rebalance, as kgo asks
// of SetOffsets in a group.
func (g *replay) seek(s *scheduler, cl *kgo.Client) {
	if g == nil {
		return
	}
	s.mu.Lock()
	seeks := g.seeks
	g.seeks = nil
	s.mu.Unlock()
	if len(seeks) > 0 {
		cl.SetOffsets(seeks)
	}
}
