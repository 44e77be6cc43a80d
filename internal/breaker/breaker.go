package breaker

import (
	"fmt"
	"hash/maphash"
	"sync"
	"time"
)

// State is where a [Breaker] is.
type State int32

const (
	// Closed: records are dispatched; transient failures are charged to
	// their records' retry budgets.
	Closed State = iota
	// Open: dispatch and fetching are paused; no record is charged; a
	// probe is scheduled ([Breaker.NextProbe]).
	Open
	// HalfOpen: one probe record is in flight; nothing else is dispatched.
	HalfOpen
)

func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	case HalfOpen:
		return "half-open"
	}
	return fmt.Sprintf("State(%d)", int32(s))
}

// Verdict is what [Breaker.Failure] says about a failed record.
type Verdict int

const (
	// Charge: the breaker is closed; the failure counts against the
	// record's retry budget as it would without a breaker.
	Charge Verdict = iota
	// Hold: the breaker is open (perhaps opened by this very failure):
	// the attempt is not charged, the record is not dead-lettered, and it
	// waits, with its key, until the breaker closes.
	Hold
)

// Breaker is a circuit breaker for systemic failure (see the package
// doc). Its methods are safe for concurrent use.
type Breaker struct {
	cfg  Config
	seed maphash.Seed

	// mu guards everything below. It is never held while calling out
	// (Classify, OnEvent).
	mu           sync.Mutex
	state        State
	since        time.Time // when the breaker last opened or closed
	reason       string
	class        string
	sample       error
	wait         time.Duration // the wait before the next probe
	next         time.Time     // when the next probe is due (Open)
	failedProbes int           // in the current open period
	gen          uint64        // bumped on every open and close: stale probes are ignored
	opens        int64
	openTotal    time.Duration // of the finished open periods
	win          *window
	pending      []Event // transitions not yet delivered to OnEvent
	draining     bool    // a caller is delivering pending
}

// New returns a closed breaker. It reports every invalid field of cfg at
// once, each wrapping [ErrConfig].
func New(cfg Config) (*Breaker, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	now := cfg.Now()
	return &Breaker{
		cfg: cfg, seed: maphash.MakeSeed(), since: now,
		win: newWindow(cfg.Window, cfg.MinKeys, now),
	}, nil
}

// Success reports a handler attempt that succeeded. Ignored unless closed
// (a record dispatched before the breaker opened proves nothing now).
func (b *Breaker) Success() { b.Successes(1) }

// Successes reports n handler attempts that succeeded, as n calls of
// Success would, under one lock: the consumer's lanes report a batch's
// successes at once, so that the lock is not taken per record.
func (b *Breaker) Successes(n int) {
	if n <= 0 {
		return
	}
	b.mu.Lock()
	if b.state == Closed {
		b.win.success(b.cfg.Now(), n)
	}
	b.mu.Unlock()
}

// Failure reports a handler attempt of the record with key that failed
// transiently with err (not a probe's: see [Probe.Failed]), and says
// whether to charge it to the record's budget. It may open the breaker.
func (b *Breaker) Failure(key []byte, err error) Verdict {
	name := b.cfg.Classify(err) // the user's code: outside the lock
	h := maphash.Bytes(b.seed, key)
	b.mu.Lock()
	if b.state != Closed {
		b.mu.Unlock()
		return Hold
	}
	now := b.cfg.Now()
	c, keys, ratio := b.win.failure(now, h, name, err)
	if keys < b.cfg.MinKeys || ratio < b.cfg.MinRatio {
		b.mu.Unlock()
		return Charge
	}
	b.open(now, c, keys, ratio)
	b.mu.Unlock()
	b.deliver()
	return Hold
}

// Allow says whether records may be dispatched and partitions fetched:
// true only while closed. A probe is dispatched through [Breaker.Probe]
// instead.
func (b *Breaker) Allow() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state == Closed
}

// NextProbe returns when the next probe is due, and false when none is
// scheduled (closed, or a probe is in flight). The consumer waits until
// then and calls [Breaker.Probe].
func (b *Breaker) NextProbe() (time.Time, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.next, b.state == Open
}

// Probe hands out the probe when one is due: the breaker is open and
// [Breaker.NextProbe] has passed. The caller dispatches exactly one record
// with it and ends it exactly once. Until then no other probe is handed
// out.
func (b *Breaker) Probe() (*Probe, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state != Open || b.cfg.Now().Before(b.next) {
		return nil, false
	}
	b.state = HalfOpen
	return &Probe{b: b, gen: b.gen}, true
}

// Reset closes the breaker, for reason, if it is not closed: the
// consumer calls it when it has no record left to probe with (its
// partitions were revoked), so the gate never stays shut with nothing
// scheduled to open it.
func (b *Breaker) Reset(reason string) {
	b.mu.Lock()
	if b.state != Closed {
		b.close(b.cfg.Now(), reason)
	}
	b.mu.Unlock()
	b.deliver()
}
