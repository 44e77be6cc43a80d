package breaker

import "time"

// Kind is the kind of an [Event].
type Kind int

const (
	// EventOpened: the breaker opened. Reason, Class, Err (a sample of
	// the class), Keys, Ratio and NextProbe are set. Log it once, as a
	// warning: dispatch and fetching are paused from now on.
	EventOpened Kind = iota + 1
	// EventProbeFailed: a probe failed; the breaker stays open. Err is
	// the probe's error, Probes the failed probes so far in this open
	// period, OpenFor its length so far, NextProbe the next one.
	EventProbeFailed
	// EventClosed: the breaker closed. Reason says why ("probe
	// succeeded", or [Breaker.Reset]'s), OpenFor how long it was open,
	// Probes how many probes failed first. Dispatch and fetching resume.
	EventClosed
)

func (k Kind) String() string {
	switch k {
	case EventOpened:
		return "opened"
	case EventProbeFailed:
		return "probe failed"
	case EventClosed:
		return "closed"
	}
	return "unknown"
}

// Event is one transition, delivered to [Config].OnEvent.
type Event struct {
	Kind      Kind
	At        time.Time
	Reason    string
	Class     string
	Err       error
	Keys      int
	Ratio     float64
	Probes    int
	OpenFor   time.Duration
	NextProbe time.Time
}

// Snapshot is the breaker's state for readiness, lag and metrics reports.
type Snapshot struct {
	State State
	// Since is when the breaker last opened (or closed, when Closed).
	Since time.Time
	// Reason, Class and Err describe the last opening.
	Reason, Class string
	Err           error
	// NextProbe is when the next probe is due (Open only).
	NextProbe time.Time
	// Probes is how many probes failed in the current (or last) open period.
	Probes int
	// Opens counts the openings since New.
	Opens int64
	// OpenTotal is the time spent not closed since New, the current open
	// period included.
	OpenTotal time.Duration
}

// Snapshot returns the breaker's state.
func (b *Breaker) Snapshot() Snapshot {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := Snapshot{
		State: b.state, Since: b.since, Reason: b.reason, Class: b.class, Err: b.sample,
		Probes: b.failedProbes, Opens: b.opens, OpenTotal: b.openTotalAt(b.cfg.Now()),
	}
	if b.state == Open {
		s.NextProbe = b.next
	}
	return s
}

func (b *Breaker) openTotalAt(now time.Time) time.Duration {
	if b.state == Closed {
		return b.openTotal
	}
	return b.openTotal + now.Sub(b.since)
}

// Mark is a point on a record's retry-budget clock, taken by
// [Breaker.Mark].
type Mark struct {
	at     time.Time
	paused time.Duration
}

// Mark returns now on the budget clock; take it at a record's first
// attempt.
func (b *Breaker) Mark() Mark {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.cfg.Now()
	return Mark{at: now, paused: b.openTotalAt(now)}
}

// Charged returns the time since m that the breaker was closed: what a
// record's time budget (the consumer's RetryFor) is charged, in place of
// time.Since. An outage the breaker sat out costs no record anything.
func (b *Breaker) Charged(m Mark) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.cfg.Now()
	return max(now.Sub(m.at)-(b.openTotalAt(now)-m.paused), 0)
}

// deliver hands the pending events to OnEvent, in order, outside the
// lock. Only one caller delivers at a time (draining); the others leave
// their events to it, and it loops until none are left, so none is lost
// and none overtakes another. A hook that calls back into the breaker
// only queues.
func (b *Breaker) deliver() {
	b.mu.Lock()
	if b.draining {
		b.mu.Unlock()
		return
	}
	b.draining = true
	finished := false
	defer func() { // a panicking hook must not stop delivery for good
		if !finished {
			b.mu.Lock()
			b.draining = false
			b.mu.Unlock()
		}
	}()
	for len(b.pending) > 0 {
		evs := b.pending
		b.pending = nil
		b.mu.Unlock()
		for _, e := range evs {
			if b.cfg.OnEvent != nil {
				b.cfg.OnEvent(e)
			}
		}
		b.mu.Lock()
	}
	b.draining = false
	finished = true
	b.mu.Unlock()
}
