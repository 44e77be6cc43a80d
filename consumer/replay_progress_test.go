package consumer

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// logLine is one captured log record: when, what, and its attributes.
type logLine struct {
	at    time.Time
	msg   string
	attrs map[string]slog.Value
}

// logCapture is a slog.Handler that keeps every record, so that a test
// asserts on a line's values rather than on its text.
type logCapture struct {
	mu    *sync.Mutex
	lines *[]logLine
	with  []slog.Attr
}

func newLogCapture() *logCapture { return &logCapture{mu: new(sync.Mutex), lines: new([]logLine)} }

func (*logCapture) Enabled(context.Context, slog.Level) bool { return true }

func (l *logCapture) Handle(_ context.Context, r slog.Record) error {
	ln := logLine{at: r.Time, msg: r.Message, attrs: make(map[string]slog.Value)}
	for _, a := range l.with {
		ln.attrs[a.Key] = a.Value.Resolve()
	}
	r.Attrs(func(a slog.Attr) bool { ln.attrs[a.Key] = a.Value.Resolve(); return true })
	l.mu.Lock()
	defer l.mu.Unlock()
	*l.lines = append(*l.lines, ln)
	return nil
}

func (l *logCapture) WithAttrs(as []slog.Attr) slog.Handler {
	return &logCapture{mu: l.mu, lines: l.lines, with: append(append([]slog.Attr(nil), l.with...), as...)}
}

func (l *logCapture) WithGroup(string) slog.Handler { return l }

// of returns the lines with message msg, in order.
func (l *logCapture) of(msg string) []logLine {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []logLine
	for _, ln := range *l.lines {
		if ln.msg == msg {
			out = append(out, ln)
		}
	}
	return out
}

// TestCatchUpProgress protects the truth of the catch-up lines, on the
// case the issue measured: six partitions under RateLimit, five with a
// backlog at the start and one entering late, part of whose backlog is
// older than MaxAge. Each "catch-up started" line expects its backlog at
// the partition's share of the cap (RateLimit over the six assigned
// partitions), and the partition's catch-up takes about that; the
// progress lines' denominator is the episode's, grows only when the late
// partition enters and says so on the line; their percent stays under
// 100 until the one line closing the episode, after the last
// "catch-up ended"; the handled rate is an integer within the cap and
// apart from the expired count; and the ETA agrees with when it ended.
func TestCatchUpProgress(t *testing.T) {
	const (
		parts   = 6
		perPart = 600
		old     = 200 // of the late partition's backlog, older than MaxAge
		limit   = 1200.0
		share   = limit / parts
	)
	f := newFixture(t, parts)
	// The backlog in small batches (about 20 records), as a service's
	// producer writes them through a downtime: a fetch takes a few of
	// each partition. The late partition's in one batch, so its first
	// fetch measures all of it.
	small := producerClient(t, f, kgo.ProducerBatchMaxBytes(1<<10))
	whole := producerClient(t, f)
	produce := func(cl *kgo.Client, ps []int32, n, old int) {
		t.Helper()
		var recs []*kgo.Record
		for i := range n {
			for _, p := range ps {
				r := f.record(Step{Key: fmt.Sprintf("p%d-key-%02d", p, i%20), Seq: int64(i/20 + 1)})
				r.Partition = p
				if i < old {
					r.Timestamp = time.Now().Add(-2 * time.Hour)
				}
				recs = append(recs, r)
			}
		}
		if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	produce(small, []int32{0, 1, 2, 3, 4}, perPart, 0)
	logs := newLogCapture()
	var handled atomic.Int64
	h := func(context.Context, Step, Meta) error { handled.Add(1); return nil }
	c := f.consumer("progress", h, Concurrency(8), CatchUpThreshold(100, 0), RateLimit(limit, 0, DuringCatchUp),
		MaxAge(time.Hour, ExpireSkip), ProgressInterval(250*time.Millisecond), WithLogger(slog.New(logs)),
		// Fetches of a few records per partition, as a backlog much larger
		// than a fetch (the one after a downtime) is fetched: the
		// partitions' records interleave, and their backlogs drain side
		// by side. (Fetched whole, one partition's backlog would be
		// dispatched before the next one's.)
		KgoOpts(kgo.FetchMaxPartitionBytes(4<<10)))
	wait := runConsumer(t, c)
	waitFor(t, 20*time.Second, "a first progress line", func() bool { return len(logs.of("catch-up progress")) > 0 })
	produce(whole, []int32{parts - 1}, perPart, old)
	// Live traffic on the first five at half the cap until the catch-ups
	// end: their lag stays over the threshold a while after their
	// backlogs are done.
	stopLive := liveTraffic(t, f, small, limit/2)
	replayed(t, c, parts, 30*time.Second)
	stopLive()
	time.Sleep(time.Second) // a line logged after the end would show here
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}

	late := checkStartedLines(t, logs, parts, perPart, share)
	progress := logs.of("catch-up progress")
	ended := logs.of("catch-up ended")
	if len(ended) != parts {
		t.Fatalf("%d end lines, want %d", len(ended), parts)
	}
	last := progress[len(progress)-1]
	for _, ln := range progress[:len(progress)-1] {
		if pct := floatAttr(ln, "percent"); pct >= 100 {
			t.Errorf("percent %v at %v, before the last catch-up ended", pct, ln.at.Format("15:04:05.000"))
		}
	}
	if pct := floatAttr(last, "percent"); pct != 100 || last.at.Before(ended[len(ended)-1].at) {
		t.Errorf("the last progress line %v (percent %v) is not the one at 100%% after the last end line", last.attrs, pct)
	}
	checkDenominator(t, progress, (parts-1)*perPart, fmt.Sprintf("+%d: %s/%d entered with %d", late, f.topic, parts-1, late))
	checkRates(t, progress, limit)
	done, hd, ex := intAttr(last, "done"), intAttr(last, "handled"), intAttr(last, "expired")
	if done != (parts-1)*perPart+late || hd+ex != done || ex == 0 || ex > old {
		t.Errorf("closing line done %d, handled %d, expired %d; want done %d all handled or expired, 1 to %d expired",
			done, hd, ex, (parts-1)*perPart+late, old)
	}
	checkETA(t, progress)
	waited := false
	for _, ln := range progress {
		if _, ok := ln.attrs["lag_over_threshold"]; ok && floatAttr(ln, "percent") == 99.9 {
			waited = true
		}
	}
	if !waited {
		t.Errorf("no line at 99.9%% with partitions waiting for their lag: the live traffic did not keep one over the threshold")
	}
	for _, ln := range progress {
		t.Logf("%s %v", ln.at.Format("15:04:05.000"), ln.attrs)
	}
}

// intAttr is an integer attribute of a line; -1 when it has none.
func intAttr(ln logLine, key string) int64 {
	if v, ok := ln.attrs[key]; ok && v.Kind() == slog.KindInt64 {
		return v.Int64()
	}
	return -1
}

// floatAttr is a number attribute of a line; -1 when it has none.
func floatAttr(ln logLine, key string) float64 {
	switch v := ln.attrs[key]; v.Kind() {
	case slog.KindFloat64:
		return v.Float64()
	case slog.KindInt64:
		return float64(v.Int64())
	}
	return -1
}

// liveTraffic publishes perSecond records over partitions 0-4 (keys of
// their own) until the returned function is called; it returns once the
// publisher has stopped.
func liveTraffic(t *testing.T, f *fixture, cl *kgo.Client, perSecond float64) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		start, sent := time.Now(), 0
		for {
			select {
			case <-ctx.Done():
				done <- nil
				return
			case now := <-tick.C:
				var recs []*kgo.Record
				for due := int(perSecond * now.Sub(start).Seconds()); sent < due; sent++ {
					p := int32(sent % 5)
					r := f.record(Step{Key: fmt.Sprintf("live-%d-%02d", p, sent/5%20), Seq: int64(sent/100 + 1)})
					r.Partition = p
					recs = append(recs, r)
				}
				if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil && ctx.Err() == nil {
					done <- err
					return
				}
			}
		}
	}()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// producerClient is a client writing to the partition a record names.
func producerClient(t *testing.T, f *fixture, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(f.cluster.Brokers()...), kgo.DefaultProduceTopic(f.topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// checkStartedLines checks that each start line expects its backlog at
// the partition's share of the cap, and that the partition's catch-up
// took about that: between half and 2.5 times (the first five drain side
// by side at the share; the late one's records wait for theirs). It
// returns the late partition's backlog: measured at its first fetch,
// while its records were still being written, so anything from one
// producer batch up.
func checkStartedLines(t *testing.T, logs *logCapture, parts int, perPart int64, share float64) (late int64) {
	t.Helper()
	started := logs.of("catch-up started")
	if len(started) != parts {
		t.Fatalf("%d start lines, want %d", len(started), parts)
	}
	took := map[int64]time.Duration{}
	for _, ln := range logs.of("catch-up ended") {
		took[intAttr(ln, "partition")] = ln.attrs["took"].Duration()
	}
	for _, ln := range started {
		p, backlog := intAttr(ln, "partition"), intAttr(ln, "backlog")
		if p == int64(parts-1) {
			late = backlog
		} else if backlog != perPart {
			t.Errorf("partition %d: backlog %d, want %d", p, backlog, perPart)
		}
		got, ok := ln.attrs["rate_share"]
		if !ok || got.Kind() != slog.KindFloat64 || got.Float64() != share {
			t.Errorf("partition %d: rate_share %v, want %v (the cap over %d partitions): %v", p, got, share, parts, ln.attrs)
			continue
		}
		exp := ln.attrs["expected"].Duration()
		if want := roundDuration(float64(backlog) / share); exp != want {
			t.Errorf("partition %d: expected %v, want %v", p, exp, want)
		}
		if r := float64(took[p]) / float64(exp); p != int64(parts-1) && (r < 0.5 || r > 2.5) {
			t.Errorf("partition %d: took %v, expected %v", p, took[p], exp)
		}
	}
	return late
}

// checkDenominator checks that the progress lines' backlog starts at
// first and changes once, on a line that says why.
func checkDenominator(t *testing.T, progress []logLine, first int64, grew string) {
	t.Helper()
	backlog, changes := first, 0
	for i, ln := range progress {
		b := intAttr(ln, "backlog")
		why, told := ln.attrs["backlog_grew"]
		switch {
		case i == 0 && b != first:
			t.Errorf("first line's backlog %d, want %d", b, first)
		case b != backlog:
			changes++
			if !told || why.String() != grew {
				t.Errorf("backlog %d -> %d, told %q; want %q", backlog, b, why, grew)
			}
		case told:
			t.Errorf("backlog_grew %q with no change of the backlog (%d)", why, b)
		}
		backlog = b
	}
	if changes != 1 {
		t.Errorf("backlog changed %d times, want once (the late partition)", changes)
	}
}

// checkRates checks that each line's handled rate is an integer under
// the cap (its burst and a tick of slack), whatever expired.
func checkRates(t *testing.T, progress []logLine, limit float64) {
	t.Helper()
	for _, ln := range progress {
		v, ok := ln.attrs["handled_rate"]
		if !ok || v.Kind() != slog.KindInt64 {
			t.Errorf("handled_rate %v (%v), want an integer: %v", v, v.Kind(), ln.attrs)
			continue
		}
		if r := float64(v.Int64()); r > limit*1.15 {
			t.Errorf("handled_rate %v over the cap %v (expired %v)", r, limit, ln.attrs["expired"])
		}
		if _, ok := ln.attrs["rate"]; ok {
			t.Errorf("a rate that counts expired records: %v", ln.attrs)
		}
	}
}

// checkETA checks that an ETA given after the backlog stopped growing
// agrees with when the episode ended: within a factor of three and two
// seconds (the machine is busy; the rate it uses is the last second's).
func checkETA(t *testing.T, progress []logLine) {
	t.Helper()
	end := progress[len(progress)-1].at
	grown := false
	for _, ln := range progress[:len(progress)-1] {
		if _, ok := ln.attrs["backlog_grew"]; ok {
			grown = true
		}
		eta, ok := ln.attrs["eta"]
		if !grown || !ok {
			continue
		}
		left := end.Sub(ln.at)
		if left > 3*eta.Duration()+2*time.Second || left < eta.Duration()/3-time.Second {
			t.Errorf("eta %v at %v, ended %v later", eta.Duration(), ln.at.Format("15:04:05.000"), left)
		}
	}
}

// TestEpisodeLines protects the progress lines' frame on the states a
// timed run rarely shows: a partition whose backlog is done but whose lag
// is still over the threshold keeps the percent under 100 and is counted
// as waiting; the ETA is at the rate the lag shrinks, to the threshold;
// the denominator grows only with a partition that enters, named on the
// next line; the closing line comes once, at 100, when the last catch-up
// ends, with the consumer's handled rate over the episode, and nothing
// after it.
func TestEpisodeLines(t *testing.T) {
	g := &replay{cfg: replayConfig{progressEvery: time.Second, backlogRecords: 100}, active: map[*partState]struct{}{}}
	t0 := time.Now()
	part := func(p int32, backlog int64) *partState {
		ps := &partState{tp: tp{"orders", p}, tracker: &tracker{acct: &backlogAcct{start: 0, end: backlog, began: t0}}, hwm: backlog}
		g.active[ps] = struct{}{}
		return ps
	}
	set := func(ps *partState, handled, expired, hwm int64) {
		a := ps.tracker.acct
		a.count[howHandled], a.count[howExpired] = handled, expired
		ps.tracker.next, ps.hwm = handled+expired, hwm
	}
	p0, p1 := part(0, 1000), part(1, 1000)
	var e episode
	tick := func(at time.Duration, handled int64) map[string]any {
		e.joinLocked(g, t0.Add(at), handled)
		return attrsOf(e.progressLocked(g, t0.Add(at), handled))
	}
	if line := tick(0, 0); line != nil {
		t.Fatalf("a line before ProgressInterval: %v", line)
	}
	set(p0, 1000, 0, 1300)
	set(p1, 200, 300, 1300)
	// lag 2000 -> 1100 in a second; 900 to go to 2×100: 1s.
	want := map[string]any{"partitions": 2, "done": int64(1500), "backlog": int64(2000), "percent": 75.0, "handled": int64(1200),
		"expired": int64(300), "handled_rate": int64(1200), "lag": int64(1100), "eta": time.Second, "lag_over_threshold": 1}
	checkLine(t, "p0's backlog done, p1's half", tick(time.Second, 1200), want)
	p5 := part(5, 500)
	// The entering partition's lag is no growth: it shrank by 0.
	want = map[string]any{"partitions": 3, "done": int64(1500), "backlog": int64(2500), "percent": 60.0, "handled": int64(1200),
		"expired": int64(300), "handled_rate": int64(0), "lag": int64(1600), "lag_over_threshold": 1,
		"backlog_grew": "+500: orders/5 entered with 500"}
	checkLine(t, "p5 entered", tick(2*time.Second, 1200), want)
	set(p1, 700, 300, 1600)
	set(p5, 500, 0, 700)
	// Every backlog done, every lag over 100: 99.9%; lag 1600 -> 1100
	// (300+600+200) in a second, 800 to go to 3×100: 1.6s.
	want = map[string]any{"partitions": 3, "done": int64(2500), "backlog": int64(2500), "percent": 99.9, "handled": int64(2200),
		"expired": int64(300), "handled_rate": int64(1200), "lag": int64(1100), "eta": 1600 * time.Millisecond, "lag_over_threshold": 3}
	checkLine(t, "waiting for the lags", tick(3*time.Second, 2400), want)
	delete(g.active, p0)
	delete(g.active, p1)
	if line := tick(3500*time.Millisecond, 2700); line != nil {
		t.Errorf("a line before ProgressInterval while p5 is in catch-up: %v", line)
	}
	delete(g.active, p5)
	want = map[string]any{"partitions": 3, "done": int64(2500), "backlog": int64(2500), "percent": 100.0, "handled": int64(2200),
		"expired": int64(300), "handled_rate": int64(750), "took": 4 * time.Second}
	checkLine(t, "closing", tick(4*time.Second, 3000), want)
	if line := tick(5*time.Second, 3000); line != nil {
		t.Errorf("a line after the close: %v", line)
	}
}

// checkLine compares a line's arguments with want, key by key.
func checkLine(t *testing.T, what string, got, want map[string]any) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s:\n got %v\nwant %v", what, got, want)
	}
}

// attrsOf maps a line's key-value arguments.
func attrsOf(args []any) map[string]any {
	if args == nil {
		return nil
	}
	m := map[string]any{}
	for i := 0; i+1 < len(args); i += 2 {
		m[args[i].(string)] = args[i+1]
	}
	return m
}
