package breaker

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// Most keys failing alike open the breaker, on the failure that makes the
// signal (MinKeys distinct keys, MinRatio of the attempts): that failure
// and every later one are held, not charged, and dispatch stops.
func TestOpensWhenMostKeysFailAlike(t *testing.T) {
	b, clk, rec := newTest(t)
	for i := range 4 { // traffic before the outage: 4 successes in the window
		if i == 3 {
			b.Successes(0) // nothing
			b.Successes(1) // as Success
		} else {
			b.Success()
		}
		clk.Advance(100 * time.Millisecond)
	}
	// 5 keys fail: ratio 5/9 < 0.8, still closed; keys 5..20 fail: at
	// 16 failures of 20 attempts the ratio reaches 0.8.
	var opened int
	for i := range 30 {
		v := b.Failure(key(i), dbDown(i))
		if v == Hold {
			opened = i
			break
		}
		if !b.Allow() {
			t.Fatalf("dispatch paused while Failure said Charge")
		}
	}
	if opened != 15 {
		t.Fatalf("opened at failure %d, want 15 (16 failures of 20 attempts = 0.8)", opened)
	}
	if b.Allow() {
		t.Fatal("Allow true while open")
	}
	if v := b.Failure(key(99), dbDown(99)); v != Hold {
		t.Fatalf("failure while open: %v, want Hold", v)
	}
	if got := rec.kinds(); !slices.Equal(got, []Kind{EventOpened}) {
		t.Fatalf("events %v, want one opened", got)
	}
	e := rec.last()
	if e.Keys != DefaultMinKeys || e.Ratio != 0.8 || e.Err == nil || e.Class != Classify(dbDown(1)) {
		t.Fatalf("opened event %+v", e)
	}
	if want := clk.Now().Add(DefaultProbeMin); !e.NextProbe.Equal(want) {
		t.Fatalf("next probe %v, want %v", e.NextProbe, want)
	}
	t.Logf("opened: %s; class %q", e.Reason, e.Class)
}

// One poison key that fails transiently, again and again, never opens
// the breaker: it is one key, whatever its failures' share.
func TestPoisonKeyDoesNotOpen(t *testing.T) {
	b, clk, rec := newTest(t)
	for i := range 1000 {
		if v := b.Failure(key(7), dbDown(i)); v != Charge {
			t.Fatalf("failure %d of one key: %v, want Charge", i, v)
		}
		clk.Advance(10 * time.Millisecond)
	}
	if len(rec.kinds()) != 0 || !b.Allow() {
		t.Fatalf("one key opened the breaker: %v", rec.kinds())
	}
}

// A few bad keys among many good ones never open it: the ratio is low.
// This is the case a dead-letter topic exists for.
func TestBadKeysAmongGoodOnesDoNotOpen(t *testing.T) {
	b, clk, rec := newTest(t)
	for i := range 2000 {
		b.Success()
		if i%20 == 0 { // 10 bad keys, each failing 10 times: 100 of 2100 attempts
			if v := b.Failure(key(i%200), dbDown(i)); v != Charge {
				t.Fatalf("failure %d: %v, want Charge", i, v)
			}
		}
		clk.Advance(5 * time.Millisecond)
	}
	if len(rec.kinds()) != 0 {
		t.Fatalf("bad keys among good ones opened the breaker: %v", rec.kinds())
	}
}

// Failures that are not alike (distinct classes) do not add up.
func TestUnalikeFailuresDoNotOpen(t *testing.T) {
	b, _, rec := newTest(t)
	errs := []error{
		errors.New("constraint violated"), errors.New("HTTP 404 not found"), errors.New("HTTP 503 unavailable"),
		errors.New("timeout"), errors.New("permission denied"), errors.New("bad gateway"),
	}
	for i, err := range errs {
		b.Failure(key(i), err)
	}
	if len(rec.kinds()) != 0 {
		t.Fatalf("%d keys failing differently opened the breaker", len(errs))
	}
}

// The window slides: failures and successes older than Window are
// forgotten.
func TestWindowSlides(t *testing.T) {
	b, clk, rec := newTest(t)
	for i := range DefaultMinKeys - 1 {
		b.Failure(key(i), dbDown(i))
	}
	clk.Advance(DefaultWindow + time.Second)
	if v := b.Failure(key(100), dbDown(100)); v != Charge || len(rec.kinds()) != 0 {
		t.Fatalf("keys that failed more than a window ago counted: %v", v)
	}
	for range 1000 { // successes, then the outage a window later
		b.Success()
	}
	clk.Advance(DefaultWindow + time.Second)
	open(t, b)
}

// While open, the first probe is due ProbeMin after opening, one at a
// time, and each failed probe doubles the wait, capped at ProbeMax:
// 1s, 2s, 4s, 8s, 16s, 30s, 30s with the defaults.
func TestProbesOnBackoff(t *testing.T) {
	b, clk, rec := newTest(t)
	open(t, b)
	want := []time.Duration{1, 2, 4, 8, 16, 30, 30}
	for i, w := range want {
		next, ok := b.NextProbe()
		if !ok || next.Sub(clk.Now()) != w*time.Second {
			t.Fatalf("probe %d due in %v (scheduled %v), want %v", i, next.Sub(clk.Now()), ok, w*time.Second)
		}
		clk.Advance(w*time.Second - time.Millisecond)
		if _, ok := b.Probe(); ok {
			t.Fatalf("probe %d handed out before it was due", i)
		}
		clk.Advance(time.Millisecond)
		p, ok := b.Probe()
		if !ok {
			t.Fatalf("probe %d not handed out when due", i)
		}
		if _, again := b.Probe(); again || b.Snapshot().State != HalfOpen {
			t.Fatalf("a second probe handed out while one is in flight")
		}
		if _, ok := b.NextProbe(); ok {
			t.Fatal("a probe scheduled while one is in flight")
		}
		p.Failed(dbDown(i))
		if b.Allow() {
			t.Fatal("a failed probe resumed dispatch")
		}
	}
	if e := rec.last(); e.Kind != EventProbeFailed || e.Probes != len(want) || e.OpenFor != 91*time.Second {
		t.Fatalf("last event %+v, want probe %d failed after 91s open", e, len(want))
	}
}

// A probe that succeeds closes the breaker, once; the window starts
// afresh, so the failures that opened it cannot reopen it.
func TestClosesOnProbeSuccess(t *testing.T) {
	b, clk, rec := newTest(t)
	open(t, b)
	clk.Advance(DefaultProbeMin)
	p, _ := b.Probe()
	p.Failed(dbDown(1))
	clk.Advance(2 * DefaultProbeMin)
	p, ok := b.Probe()
	if !ok {
		t.Fatal("no probe")
	}
	p.Succeeded()
	p.Succeeded() // ignored
	if !b.Allow() {
		t.Fatal("closed breaker does not allow dispatch")
	}
	if got := rec.kinds(); !slices.Equal(got, []Kind{EventOpened, EventProbeFailed, EventClosed}) {
		t.Fatalf("events %v", got)
	}
	if e := rec.last(); e.OpenFor != 3*time.Second || e.Probes != 1 || e.Reason != "probe succeeded" {
		t.Fatalf("closed event %+v, want open for 3s after 1 failed probe", e)
	}
	if v := b.Failure(key(1), dbDown(1)); v != Charge {
		t.Fatalf("first failure after closing: %v, want Charge (a fresh window)", v)
	}
	if s := b.Snapshot(); s.Opens != 1 || s.OpenTotal != 3*time.Second {
		t.Fatalf("snapshot %+v", s)
	}
}

// The world failing again after a close reopens the breaker, with the
// probe backoff started over.
func TestReopens(t *testing.T) {
	b, clk, rec := newTest(t)
	open(t, b)
	clk.Advance(DefaultProbeMin)
	p, _ := b.Probe()
	p.Succeeded()
	clk.Advance(time.Second)
	open(t, b)
	if next, _ := b.NextProbe(); next.Sub(clk.Now()) != DefaultProbeMin {
		t.Fatalf("reopened with probe due in %v, want %v", next.Sub(clk.Now()), DefaultProbeMin)
	}
	if got := rec.kinds(); !slices.Equal(got, []Kind{EventOpened, EventClosed, EventOpened}) {
		t.Fatalf("events %v", got)
	}
	if b.Snapshot().Opens != 2 {
		t.Fatalf("opens %d, want 2", b.Snapshot().Opens)
	}
}

// A probe that proves nothing (cancelled, permanent, poison) frees the
// slot at once without lengthening the wait.
func TestAbandonedProbe(t *testing.T) {
	b, clk, rec := newTest(t)
	open(t, b)
	clk.Advance(DefaultProbeMin)
	p, _ := b.Probe()
	p.Abandoned()
	p2, ok := b.Probe()
	if !ok {
		t.Fatal("no probe right after an abandoned one")
	}
	p2.Failed(dbDown(2))
	if next, _ := b.NextProbe(); next.Sub(clk.Now()) != 2*DefaultProbeMin {
		t.Fatalf("after abandoned then failed probe, next in %v, want %v", next.Sub(clk.Now()), 2*DefaultProbeMin)
	}
	if got := rec.kinds(); !slices.Equal(got, []Kind{EventOpened, EventProbeFailed}) {
		t.Fatalf("events %v", got)
	}
}

// Reset closes an open breaker once; a probe from before it is ignored.
func TestReset(t *testing.T) {
	b, clk, rec := newTest(t)
	b.Reset("nothing") // closed: no event
	open(t, b)
	clk.Advance(DefaultProbeMin)
	p, _ := b.Probe()
	b.Reset("partitions revoked")
	b.Reset("again")
	if got := rec.kinds(); !slices.Equal(got, []Kind{EventOpened, EventClosed}) {
		t.Fatalf("events %v", got)
	}
	if e := rec.last(); e.Reason != "partitions revoked" || !b.Allow() {
		t.Fatalf("closed event %+v", e)
	}
	// A probe from before Reset, ended later, is ignored, even while a
	// later open period's probe is in flight.
	open(t, b)
	clk.Advance(DefaultProbeMin)
	stale := p
	p, _ = b.Probe()
	stale.Succeeded()
	if got := rec.kinds(); !slices.Equal(got, []Kind{EventOpened, EventClosed, EventOpened}) {
		t.Fatalf("events %v after a stale probe ended", got)
	}
	if b.Allow() {
		t.Fatal("a probe from before Reset closed a later open period")
	}
	p.Succeeded()
	if !b.Allow() {
		t.Fatal("the current probe did not close")
	}
}

// A record's time budget is not charged for the time the breaker was
// open: 10s closed, 60s open, 5s closed again is 15s charged.
func TestChargedExcludesOpenTime(t *testing.T) {
	b, clk, _ := newTest(t)
	m := b.Mark()
	clk.Advance(10 * time.Second)
	open(t, b)
	clk.Advance(30 * time.Second)
	if got := b.Charged(m); got != 10*time.Second {
		t.Fatalf("charged %v while open, want 10s", got)
	}
	clk.Advance(30 * time.Second)
	b.Reset("test")
	clk.Advance(5 * time.Second)
	if got := b.Charged(m); got != 15*time.Second {
		t.Fatalf("charged %v, want 15s", got)
	}
	if m2 := b.Mark(); b.Charged(m2) != 0 {
		t.Fatal("fresh mark charged")
	}
}
