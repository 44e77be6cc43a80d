package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ordo-go/ordo/internal/oteltest"
	"github.com/ordo-go/ordo/schema"
)

// errRefused is what a handler whose database is down returns, for every
// key alike.
var errRefused = errors.New("dial tcp 10.0.0.7:5432: connect: connection refused")

// dependency is a handler over a database the test takes down and brings
// back: while down, every record fails transiently (an error not marked
// permanent), the same way for every key.
type dependency struct {
	down  atomic.Bool
	rec   *recorder
	fails atomic.Int64
}

func (d *dependency) handle(ctx context.Context, s Step, m Meta) error {
	if d.down.Load() {
		d.fails.Add(1)
		return fmt.Errorf("insert %s/%d: %w", s.Key, s.Seq, errRefused)
	}
	return d.rec.handle(ctx, s, m)
}

// outOfOrder counts the keys whose records were not handled exactly once
// each, in sequence 1..n.
func (d *dependency) outOfOrder() int {
	d.rec.mu.Lock()
	defer d.rec.mu.Unlock()
	bad := 0
	for _, seqs := range d.rec.seqs {
		for i, s := range seqs {
			if s != int64(i+1) {
				bad++
				break
			}
		}
	}
	return bad
}

// TestBreakerOutage30s is the 30-second database restart of issue 21,
// under the defaults, with a dead-letter topic: 600 records over 200 keys,
// the handler's database down for 30 s after the first 200 are handled
// and while the other 400 arrive. The breaker opens once (one WARN line),
// probes, and closes once (one INFO line) when the database is back;
// nothing is dead-lettered, every key's records are handled once each and
// in order. Without the breaker, every record retried on its own budget
// and the log said nothing of the outage as one. It runs for over 30 s:
// the suite's one long test.
func TestBreakerOutage30s(t *testing.T) {
	const dlt = "steps-dlt"
	f := newFixture(t, 4)
	f.createTopic(dlt, 4)
	d := &dependency{rec: newRecorder(nil)}
	var logs syncBuffer
	c := f.consumer("outage", d.handle, DeadLetterTopic(dlt), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	wait := runConsumer(t, c)
	defer c.Close()

	f.publish(200, 1)
	waitFor(t, 30*time.Second, "the first 200 records", func() bool { return d.rec.distinct() == 200 })
	d.down.Store(true)
	downAt := time.Now()
	for range 2 { // 400 more arrive during the outage
		f.publish(200, 1)
		time.Sleep(time.Second)
	}
	time.Sleep(30*time.Second - time.Since(downAt))
	d.down.Store(false)
	t.Logf("database back after %v; %d attempts failed meanwhile", time.Since(downAt).Round(time.Millisecond), d.fails.Load())
	deadline := time.Now().Add(90 * time.Second)
	for d.rec.distinct() < 600 || c.Stats().Fetched < 600 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 600 records handled 90s after the database came back; stats %+v; logs:\n%s",
				d.rec.distinct(), c.Stats(), grepLines(logs.String(), "level=WARN")+grepLines(logs.String(), "breaker"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	st := c.Stats()
	if st.Handled != 600 || d.rec.distinct() != 600 {
		t.Errorf("%d records handled, %d distinct, want 600", st.Handled, d.rec.distinct())
	}
	out := logs.String()
	opened, closed := strings.Count(out, "breaker open:"), strings.Count(out, "breaker closed:")
	t.Logf("stats %+v; breaker opened %d, closed %d; %s", st, opened, closed, grepLines(out, "breaker closed"))
	if st.DeadLettered != 0 || st.Failed != 0 {
		t.Errorf("%d records dead-lettered, %d failed, want 0", st.DeadLettered, st.Failed)
	}
	if n := d.outOfOrder(); n != 0 {
		t.Errorf("%d keys handled out of order or twice", n)
	}
	if opened != 1 || closed != 1 {
		t.Errorf("the breaker logged %d openings and %d closings, want 1 and 1:\n%s", opened, closed, grepLines(out, "breaker"))
	}
}

// TestBreakerOpensProbesCloses takes the breaker through a whole episode
// with fast probes (100ms doubling to 400ms): it opens once most keys
// fail alike, probes several times while the database stays down (one
// record each time, not charged, not dead-lettered), and closes on the
// first probe after it is back. While open: Ready says why and when the
// next probe is, Lag flags every partition, ordo.breaker.state is 1 or 2;
// after: the metrics count one opening and the open time, the probe
// failures were logged once (rate-limited), and a probe's span has the
// probe event.
func TestBreakerOpensProbesCloses(t *testing.T) {
	const dlt = "steps-dlt"
	f := newFixture(t, 2)
	f.createTopic(dlt, 2)
	mp, tp := oteltest.NewMeterProvider(), oteltest.NewTracerProvider()
	d := &dependency{rec: newRecorder(nil)}
	d.down.Store(true)
	var logs syncBuffer
	c := f.consumer("probes", d.handle, DeadLetterTopic(dlt), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))),
		WithMeterProvider(mp), WithTracerProvider(tp),
		Breaker(BreakerConfig{ProbeMin: 100 * time.Millisecond, ProbeMax: 400 * time.Millisecond}))
	wait := runConsumer(t, c)
	defer c.Close()
	f.publish(20, 3)

	waitFor(t, 30*time.Second, "the breaker to open", func() bool { return c.brk.holding() })
	waitFor(t, 30*time.Second, "Ready to say the breaker is open", func() bool {
		err := c.Ready(0)
		return errors.Is(err, ErrNotReady) && strings.Contains(err.Error(), "breaker open for")
	})
	if err := c.Ready(0); !strings.Contains(err.Error(), "keys failed alike") ||
		!(strings.Contains(err.Error(), "next probe in") || strings.Contains(err.Error(), "a probe is running")) {
		t.Errorf("Ready while open: %v", err)
	}
	for _, pl := range c.Lag() {
		if !pl.HeldByBreaker {
			t.Errorf("Lag while open: %+v, want HeldByBreaker", pl)
		}
	}
	ms, err := mp.Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s := ms.Int64("ordo.breaker.state"); s != 1 && s != 2 {
		t.Errorf("ordo.breaker.state while open = %d, want 1 or 2", s)
	}
	waitFor(t, 30*time.Second, "3 failed probes", func() bool { return c.brk.b.Snapshot().Probes >= 3 })
	fails := d.fails.Load()
	time.Sleep(time.Second) // the probes go on, one record at a time, on the backoff (400ms at most)
	if n := d.fails.Load() - fails; n < 1 || n > 5 {
		t.Errorf("%d attempts in a second while open, want the probes alone (1..5)", n)
	}
	d.down.Store(false)
	waitFor(t, 30*time.Second, "every record handled", func() bool { return d.rec.distinct() == 60 })
	if ms, err = mp.Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s, o, ot := ms.Int64("ordo.breaker.state"), ms.Int64("ordo.breaker.opens"), ms.Float64("ordo.breaker.open.time"); s != 0 || o != 1 || ot < 0.5 {
		t.Errorf("after: ordo.breaker.state %d (want 0), ordo.breaker.opens %d (want 1), ordo.breaker.open.time %vs (want > 0.5)", s, o, ot)
	}
	if err := c.Ready(0); err != nil && strings.Contains(err.Error(), "breaker") {
		t.Errorf("Ready after: %v", err)
	}
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	checkEpisodeLogs(t, logs.String())
	checkProbeSpans(t, tp.Spans())
	if st := c.Stats(); st.DeadLettered != 0 || d.outOfOrder() != 0 {
		t.Errorf("%d dead-lettered, %d keys out of order, want 0", st.DeadLettered, d.outOfOrder())
	}
}

func checkEpisodeLogs(t *testing.T, out string) {
	t.Helper()
	lines := grepLines(out, "breaker")
	opened := strings.Count(out, "level=WARN msg=\"breaker open:")
	closed := strings.Count(out, "level=INFO msg=\"breaker closed:")
	probes := strings.Count(out, "breaker probe failed")
	if opened != 1 || closed != 1 || probes != 1 {
		t.Errorf("breaker lines: %d WARN open, %d INFO closed, %d probe failed; want 1, 1, 1 (a minute's limit):\n%s",
			opened, closed, probes, lines)
	}
	for _, want := range []string{"error_class=", "connection refused", "keys=", "next_probe_in=", "open_for="} {
		if !strings.Contains(lines, want) {
			t.Errorf("breaker lines lack %q:\n%s", want, lines)
		}
	}
	if strings.Count(out, "handler failed, will retry") > 2*logLimitBurst {
		t.Errorf("the retry line was logged %d times", strings.Count(out, "handler failed, will retry"))
	}
}

func checkProbeSpans(t *testing.T, spans []oteltest.Span) {
	t.Helper()
	results := map[string]int{}
	for _, s := range spans {
		for _, e := range s.Events {
			if e.Name == "ordo.breaker.probe" {
				for _, a := range e.Attributes {
					if a.Key == "ordo.breaker.probe.result" {
						results[a.Value.AsString()]++
					}
				}
			}
		}
	}
	if results["succeeded"] != 1 || results["failed"] < 3 {
		t.Errorf("probe span events: %v, want 1 succeeded and >= 3 failed", results)
	}
}

// TestBreakerPoisonKey: one key whose records always fail permanently,
// among healthy traffic, never opens the breaker, and its records are
// dead-lettered at once; nor does one key failing transiently over and
// over (it is one key).
func TestBreakerPoisonKey(t *testing.T) {
	const dlt = "steps-dlt"
	f := newFixture(t, 2)
	f.createTopic(dlt, 2)
	rec := newRecorder(nil)
	var transient atomic.Int64
	h := func(ctx context.Context, s Step, m Meta) error {
		switch s.Key {
		case "key-000":
			return Permanent(fmt.Errorf("row %d: constraint violated", s.Seq))
		case "key-001":
			transient.Add(1)
			return errRefused
		}
		return rec.handle(ctx, s, m)
	}
	var logs syncBuffer
	c := f.consumer("poison", h, DeadLetterTopic(dlt), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))),
		Retry(DefaultRetryAttempts, time.Millisecond, 5*time.Millisecond))
	wait := runConsumer(t, c)
	defer c.Close()
	start := time.Now()
	f.publish(50, 4)
	waitFor(t, 30*time.Second, "the healthy keys and the poison key's dead letters", func() bool {
		return rec.distinct() == 48*4 && c.Stats().DeadLettered >= 4
	})
	t.Logf("the poison key's 4 records dead-lettered within %v", time.Since(start).Round(time.Millisecond))
	waitFor(t, 30*time.Second, "the transient key's retries to be spent", func() bool { return c.Stats().DeadLettered == 8 })
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if c.brk == nil {
		t.Fatal("the breaker is off by default")
	}
	if sn := c.brk.b.Snapshot(); sn.Opens != 0 || strings.Contains(logs.String(), "breaker open") {
		t.Errorf("the breaker opened %d times for one bad key:\n%s", sn.Opens, grepLines(logs.String(), "breaker"))
	}
	if transient.Load() < DefaultRetryAttempts {
		t.Errorf("the transient key was tried %d times, want its whole budget (%d)", transient.Load(), DefaultRetryAttempts)
	}
}

// TestBreakerOptions: Breaker validates its fields; NoBreaker turns it
// off.
func TestBreakerOptions(t *testing.T) {
	codec, err := schema.NewCodec[Step](stepSchema)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := schema.NewRegistry([]string{"http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	base := []Option{Brokers("127.0.0.1:1"), Group("g"), Topics("t"), Registry(reg),
		On(codec, func(context.Context, Step, Meta) error { return nil })}
	if _, err := New(append(slices.Clone(base), Breaker(BreakerConfig{MinRatio: 2}))...); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("Breaker(MinRatio 2): %v, want ErrInvalidConfig", err)
	}
	c, err := New(append(slices.Clone(base), NoBreaker())...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.brk != nil {
		t.Error("NoBreaker: the breaker is on")
	}
	d, err := New(base...)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.brk == nil {
		t.Error("the breaker is off by default")
	}
}

// grepLines returns out's lines that contain s.
func grepLines(out, s string) string {
	var b strings.Builder
	for l := range strings.Lines(out) {
		if strings.Contains(l, s) {
			b.WriteString(l)
		}
	}
	return b.String()
}
