package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/embedded"
	"go.opentelemetry.io/otel/trace"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/internal/breaker"
	"github.com/ordo-go/ordo/internal/telemetry"
)

// The breaker room: systemic failure (internal/breaker holds the state
// machine; this file is the consumer's side of its seam).
//
// The pipeline reports every handler attempt and registry outage
// (handled, failed): a transient failure the breaker holds is neither
// charged to its record's attempts nor to its time budget (spent), and
// the record waits on the ready list until the breaker closes. The
// scheduler asks gateLocked before every claim ("dispatch gated", beside
// the replay gate): while open, nothing is claimed but one probe record
// when the breaker says one is due, from a key other than the last few
// probed (a key that fails for its own reasons must not keep the breaker
// open). A probe ends exactly once: by its lane (succeeded, failed) or,
// whatever else happened to it, at settle or when its claim is taken back
// (abandoned).
//
// Memory while open: the fetch of every consumed topic is paused at kgo
// (fetchpause.go, reason fetchBreaker) when the breaker opens and resumed
// when it closes, through OnEvent, which the breaker delivers once per
// transition and in order. kgo drops what it had buffered of them without
// moving its cursors (fetched again after the close) and sends no fetch
// for them meanwhile, so what the consumer holds stops growing at what
// was dispatched or staged when it opened: a long outage neither fills
// the buffer to MaxBuffered nor keeps kgo's fetch buffers full, and the
// lag grows at the broker, where Lag and the group's lag show it. Topics,
// not partitions: a partition assigned while open is paused as it comes,
// and the scheduler's lock is not needed (OnEvent may run under it). The
// probe needs no fetch: the records whose failures opened the breaker
// wait in the buffer (held), and when none is left to probe with
// (revoked), gateLocked resets the breaker, which resumes the fetch.

// BreakerConfig tunes the breaker (see the package doc, "Breaker"). A
// zero field takes its default.
type BreakerConfig struct {
	// Window is how far back the breaker looks for failures alike.
	// Default [DefaultBreakerWindow].
	Window time.Duration
	// MinKeys is how many distinct keys must fail alike within Window.
	// Default [DefaultBreakerMinKeys].
	MinKeys int
	// MinRatio is the share of Window's handler attempts that must have
	// failed alike, in (0, 1]. Default [DefaultBreakerMinRatio].
	MinRatio float64
	// ProbeMin and ProbeMax bound the wait before each probe, doubling
	// from ProbeMin after each failed probe. Defaults
	// [DefaultBreakerProbeMin], [DefaultBreakerProbeMax].
	ProbeMin, ProbeMax time.Duration
}

// Defaults of [BreakerConfig] (tested in internal/breaker).
const (
	DefaultBreakerWindow   = breaker.DefaultWindow   // 30s
	DefaultBreakerMinKeys  = breaker.DefaultMinKeys  // 5
	DefaultBreakerMinRatio = breaker.DefaultMinRatio // 0.8
	DefaultBreakerProbeMin = breaker.DefaultProbeMin // 1s
	DefaultBreakerProbeMax = breaker.DefaultProbeMax // 30s
)

// Breaker tunes the breaker for systemic failure, which is on by
// default with [BreakerConfig]'s defaults: when at least MinKeys keys
// fail transiently alike (same error type and message shape) and such
// failures are at least MinRatio of the handler attempts of the last
// Window, the consumer stops claiming records, charges no record's retry
// budget and dead-letters nothing, and probes with one record after
// ProbeMin, doubling to ProbeMax, until one succeeds.
func Breaker(bc BreakerConfig) Option {
	return optionFunc(func(c *config) { c.breaker, c.noBreaker = bc, false })
}

// NoBreaker turns the breaker off: every transient failure is charged to
// its record's retry budget (see [Retry], [RetryFor]), whatever the other
// keys are doing. Default: the breaker is on.
func NoBreaker() Option { return optionFunc(func(c *config) { c.noBreaker = true }) }

// probeSpread is how many recently probed keys the next probe avoids.
const probeSpread = 4

// circuit is the consumer's breaker. nil when the breaker is off; its
// methods accept a nil receiver.
type circuit struct {
	b     *breaker.Breaker
	shut  atomic.Bool // opened and not closed since: a hint, b is the truth
	log   *slog.Logger
	limit telemetry.LogLimit // the probe-failed line
	opens metric.Int64Counter
	fetch func(pause bool) // pauses or resumes the consumed topics' fetch; set by New with the client

	// Guarded by the scheduler's lock.
	timer   *time.Timer // wakes a lane when the next probe is due
	timerAt time.Time
	recent  [probeSpread]*keyQueue // the keys probed last, a ring
	next    int
}

// brkShare is the breaker's part of a record, made on its first failure
// or when it is claimed as the probe.
type brkShare struct {
	probe  *breaker.Probe // set at claim (the scheduler's lock); ended once
	mark   breaker.Mark   // the budget clock at its first failure
	lead   time.Duration  // the time from its first attempt to mark
	marked bool
}

// newCircuit makes the consumer's breaker (nil when off) and its
// instruments, registering its observed ones into reg.
func newCircuit(cfg *config, log *slog.Logger, m metric.Meter, reg *metric.Registration) (*circuit, error) {
	if cfg.noBreaker {
		return nil, nil
	}
	c := &circuit{log: log, limit: telemetry.LogLimit{Every: time.Minute, Burst: 1}}
	bc := cfg.breaker
	var err error
	c.b, err = breaker.New(breaker.Config{Window: bc.Window, MinKeys: bc.MinKeys, MinRatio: bc.MinRatio,
		ProbeMin: bc.ProbeMin, ProbeMax: bc.ProbeMax, OnEvent: c.onEvent})
	if err != nil {
		return nil, fmt.Errorf("%w: Breaker: %w", ErrInvalidConfig, err)
	}
	if c.opens, err = m.Int64Counter("ordo.breaker.opens", metric.WithUnit("{open}"),
		metric.WithDescription("Times the breaker opened: dispatch and fetching paused for a systemic failure.")); err != nil {
		return nil, err
	}
	state, err := m.Int64ObservableGauge("ordo.breaker.state", metric.WithUnit("1"),
		metric.WithDescription("The breaker's state: 0 closed, 1 open, 2 half-open (a probe in flight)."))
	if err != nil {
		return nil, err
	}
	open, err := m.Float64ObservableCounter("ordo.breaker.open.time", metric.WithUnit("s"),
		metric.WithDescription("Time the breaker spent open (or half-open) since the consumer was made."))
	if err != nil {
		return nil, err
	}
	r, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := c.b.Snapshot()
		o.ObserveInt64(state, int64(s.State))
		o.ObserveFloat64(open, s.OpenTotal.Seconds())
		return nil
	}, state, open)
	if err != nil {
		return nil, err
	}
	*reg = regs{rs: []metric.Registration{*reg, r}}
	return c, nil
}

// regs unregisters several registrations as one.
type regs struct {
	embedded.Registration
	rs []metric.Registration
}

var _ metric.Registration = regs{}

func (r regs) Unregister() error {
	var errs []error
	for _, r := range r.rs {
		errs = append(errs, r.Unregister())
	}
	return errors.Join(errs...)
}

// onEvent tells the operator: one WARN per opening, one INFO per
// closing, probe failures at most once a minute (with a count).
func (c *circuit) onEvent(e breaker.Event) {
	switch e.Kind {
	case breaker.EventOpened:
		c.shut.Store(true)
		c.holdFetch(true)
		c.opens.Add(context.Background(), 1)
		c.log.Warn("breaker open: dispatch and fetching paused, probing with one record", "reason", e.Reason,
			"error_class", e.Class, "error", errText(e.Err), "keys", e.Keys, "next_probe_in", e.NextProbe.Sub(e.At))
	case breaker.EventProbeFailed:
		if ok, more := c.limit.Allow("probe", e.At); ok {
			c.log.Info("breaker probe failed, still open", "probes_failed", e.Probes,
				"open_for", e.OpenFor.Round(time.Millisecond), "next_probe_in", e.NextProbe.Sub(e.At),
				"error", errText(e.Err), "more_like_it", more)
		}
	case breaker.EventClosed:
		c.shut.Store(false)
		c.holdFetch(false)
		c.log.Info("breaker closed: dispatch and fetching resumed", "reason", e.Reason,
			"open_for", e.OpenFor.Round(time.Millisecond), "probes_failed", e.Probes)
	}
}

// holdFetch pauses (or resumes) the fetch of the consumed topics.
func (c *circuit) holdFetch(pause bool) {
	if c.fetch != nil {
		c.fetch(pause)
	}
}

// fetchHold returns the breaker's fetch pause over cl, for the topics.
func fetchHold(f *fetchPauses, cl *kgo.Client, topics []string) func(bool) {
	parts := make(map[string][]int32, len(topics))
	for _, t := range topics {
		parts[t] = nil // the whole topic
	}
	return func(pause bool) {
		if pause {
			f.pause(cl, fetchBreaker, parts)
		} else {
			f.resume(cl, fetchBreaker, parts)
		}
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return redactURLs(err.Error())
}

// handled reports a probe whose handler succeeded: the breaker closes.
// Other successes are reported by their lane, a batch at once
// (succeeded). Called by the lane.
func (c *circuit) handled(it *item) {
	if c == nil || it.brk == nil || it.brk.probe == nil {
		return
	}
	it.brk.probe.Succeeded()
	probeEvent(it, "succeeded", nil)
}

// succeeded reports n handler attempts that succeeded, a lane's batch's.
func (c *circuit) succeeded(n int) {
	if c != nil && n > 0 {
		c.b.Successes(n)
	}
}

// failed reports a transient failure of it (a handler's, or a registry
// outage) and says whether the breaker holds it: not charged, not
// dead-lettered, waiting until the breaker closes. Called by the lane.
func (c *circuit) failed(it *item, err error) (held bool) {
	if c == nil {
		return false
	}
	if it.brk != nil && it.brk.probe != nil {
		it.brk.probe.Failed(err)
		probeEvent(it, "failed", err)
		return true
	}
	return c.b.Failure(it.rec.Key, err) == breaker.Hold
}

func probeEvent(it *item, result string, err error) {
	if it.trace.span == nil || !it.trace.span.IsRecording() {
		return
	}
	attrs := []attribute.KeyValue{attribute.String("ordo.breaker.probe.result", result)}
	if err != nil {
		attrs = append(attrs, attribute.String("error.type", telemetry.ErrorClass(err)))
	}
	it.trace.span.AddEvent("ordo.breaker.probe", trace.WithAttributes(attrs...))
}

// spent is what it's time budget (RetryFor) is charged so far: the time
// since its first attempt, less the time the breaker was open meanwhile.
// Called by the lane, at a failure.
func (c *circuit) spent(it *item) time.Duration {
	if c == nil {
		return time.Since(it.try.firstTry)
	}
	if it.brk == nil {
		it.brk = new(brkShare)
	}
	if !it.brk.marked {
		it.brk.marked, it.brk.mark, it.brk.lead = true, c.b.Mark(), time.Since(it.try.firstTry)
	}
	return it.brk.lead + c.b.Charged(it.brk.mark)
}

// gateLocked is the "dispatch gated" seam's breaker: shut when nothing
// may be claimed now, probe when exactly one record may be, as the
// probe. Called under the scheduler's lock.
func (c *circuit) gateLocked(s *scheduler) (shut, probe bool) {
	if c == nil || !c.shut.Load() || c.b.Allow() {
		return false, false
	}
	next, open := c.b.NextProbe()
	switch {
	case !open:
		return true, false // a probe is in flight
	case s.buffered == 0 && s.inflight == 0:
		// Nothing to probe with (the partitions were revoked, or
		// nothing is left): a gate shut with no probe would latch.
		c.b.Reset("no record left to probe with")
		return false, false
	case time.Now().Before(next):
		c.armLocked(s, next)
		return true, false
	case s.ready.len() == 0:
		return true, false // held records come back on their timers and wake a lane
	}
	return false, true
}

// armLocked wakes a lane at next, the probe's time.
func (c *circuit) armLocked(s *scheduler, next time.Time) {
	if c.timer != nil && c.timerAt.Equal(next) {
		return
	}
	if c.timer != nil {
		c.timer.Stop()
	}
	c.timerAt = next
	c.timer = time.AfterFunc(time.Until(next), func() {
		s.mu.Lock()
		s.work.Signal()
		s.mu.Unlock()
	})
}

// stopLocked stops the probe timer (the consumer stops).
func (c *circuit) stopLocked() {
	if c != nil && c.timer != nil {
		c.timer.Stop()
	}
}

// claimProbeLocked claims one record as the probe into the empty batch
// b, from a key not among the last probed, and reports whether it did.
func (s *scheduler) claimProbeLocked(b *batch, lt *laneToken, now time.Time) bool {
	c := s.brk
	kq := c.pickLocked(&s.ready)
	s.claimKeyLocked(b, lt, kq, now)
	if len(b.claims) == 0 {
		return false
	}
	p, ok := c.b.Probe()
	if !ok { // closed or taken meanwhile: claim as usual next time
		s.cancelLocked(&b.claims[0], true)
		b.claims = b.claims[:0]
		return false
	}
	it := b.claims[0].it
	if it.brk == nil {
		it.brk = new(brkShare)
	}
	it.brk.probe = p
	c.recent[c.next] = kq
	c.next = (c.next + 1) % probeSpread
	return true
}

// pickLocked pops the oldest ready key not probed recently (or the
// oldest, when all the ready ones were), putting back those passed over.
func (c *circuit) pickLocked(q *readyQueue) *keyQueue {
	var passed [probeSpread]*keyQueue
	n := 0
	kq := q.pop()
	for n < len(passed) && c.probedRecently(kq) && q.len() > 0 {
		passed[n] = kq
		n++
		kq = q.pop()
	}
	for _, p := range passed[:n] {
		q.push(p)
	}
	return kq
}

func (c *circuit) probedRecently(kq *keyQueue) bool {
	for _, r := range c.recent {
		if r == kq {
			return true
		}
	}
	return false
}

// endProbeLocked ends it's probe, if it is one and its lane did not:
// its claim was taken back, or it ended otherwise (cancelled, permanent,
// poison): the next probe is due at once. The lanes wake, as the breaker
// may have closed. Called under the scheduler's lock.
func (s *scheduler) endProbeLocked(it *item) {
	if it.brk == nil || it.brk.probe == nil {
		return
	}
	it.brk.probe.Abandoned()
	it.brk.probe = nil
	s.work.Broadcast()
}

// why says, for Ready, that the breaker is open; "" when closed.
func (c *circuit) why() string {
	if c == nil {
		return ""
	}
	sn := c.b.Snapshot()
	if sn.State == breaker.Closed {
		return ""
	}
	s := fmt.Sprintf("breaker open for %v: %s", time.Since(sn.Since).Round(time.Second), sn.Reason)
	if sn.State == breaker.Open {
		s += fmt.Sprintf("; next probe in %v", max(time.Until(sn.NextProbe), 0).Round(100*time.Millisecond))
	} else {
		s += "; a probe is running"
	}
	return s
}

// holding reports whether the breaker holds dispatch (open or half-open).
func (c *circuit) holding() bool { return c != nil && c.shut.Load() && !c.b.Allow() }
