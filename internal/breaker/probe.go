package breaker

import (
	"fmt"
	"sync/atomic"
	"time"
)

// Probe is the one record dispatched while the breaker is open. End it
// exactly once, with the first of [Probe.Succeeded], [Probe.Failed] or
// [Probe.Abandoned]; later calls, and calls after [Breaker.Reset], are
// ignored.
type Probe struct {
	b    *Breaker
	gen  uint64
	done atomic.Bool
}

// Succeeded reports that the probe's handler succeeded: the breaker
// closes and dispatch and fetching resume.
func (p *Probe) Succeeded() { p.end(func(now time.Time) { p.b.close(now, "probe succeeded") }) }

// Failed reports that the probe failed transiently with err: the breaker
// stays open and the next probe waits longer (doubling, capped). The
// probe record is not charged; it waits like the others.
func (p *Probe) Failed(err error) {
	name := p.b.cfg.Classify(err) // the user's code: outside the lock
	p.end(func(now time.Time) { p.b.probeFailed(now, name, err) })
}

// Abandoned reports a probe that says nothing about the world: its
// handler was cancelled, or it failed permanently or as poison (it goes
// to the failure policy as usual). The next probe is due at once, so
// another record is tried.
func (p *Probe) Abandoned() {
	p.end(func(now time.Time) { p.b.state, p.b.next = Open, now })
}

func (p *Probe) end(f func(now time.Time)) {
	if p.done.Swap(true) {
		return
	}
	b := p.b
	b.mu.Lock()
	if b.gen == p.gen && b.state == HalfOpen {
		f(b.cfg.Now())
	}
	b.mu.Unlock()
	b.deliver()
}

// open moves a closed breaker to Open. b.mu is held.
func (b *Breaker) open(now time.Time, c *class, keys int, ratio float64) {
	b.state, b.since, b.gen = Open, now, b.gen+1
	b.opens++
	b.class, b.sample, b.failedProbes = c.name, c.sample, 0
	b.reason = fmt.Sprintf("%d keys failed alike within %v (%.0f%% of attempts)", keys, b.cfg.Window, ratio*100)
	b.wait = b.cfg.ProbeMin
	b.next = now.Add(b.wait)
	b.pending = append(b.pending, Event{
		Kind: EventOpened, At: now, Reason: b.reason, Class: b.class, Err: b.sample,
		Keys: keys, Ratio: ratio, NextProbe: b.next,
	})
}

// probeFailed moves a half-open breaker back to Open. b.mu is held.
func (b *Breaker) probeFailed(now time.Time, class string, err error) {
	b.state = Open
	b.failedProbes++
	b.wait = min(time.Duration(float64(b.wait)*b.cfg.ProbeMultiplier), b.cfg.ProbeMax)
	b.next = now.Add(b.wait)
	b.pending = append(b.pending, Event{
		Kind: EventProbeFailed, At: now, Reason: b.reason, Class: class, Err: err,
		Probes: b.failedProbes, OpenFor: now.Sub(b.since), NextProbe: b.next,
	})
}

// close moves an open or half-open breaker to Closed with a fresh window,
// so the failures that opened it cannot reopen it. b.mu is held.
func (b *Breaker) close(now time.Time, reason string) {
	openFor := now.Sub(b.since)
	b.openTotal += openFor
	b.state, b.since, b.gen = Closed, now, b.gen+1
	b.next = time.Time{}
	b.win = newWindow(b.cfg.Window, b.cfg.MinKeys, now)
	b.pending = append(b.pending, Event{
		Kind: EventClosed, At: now, Reason: reason, Class: b.class,
		Probes: b.failedProbes, OpenFor: openFor,
	})
}
