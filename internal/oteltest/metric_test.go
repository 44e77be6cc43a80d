package oteltest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/semconv/v1.43.0/messagingconv"
)

func collect(t *testing.T, mp *MeterProvider) Metrics {
	t.Helper()
	ms, err := mp.Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// TestSyncInstruments protects the aggregation of every synchronous
// instrument, per attribute set: counters sum, histograms count and sum
// with min and max, gauges keep the last value; WithAttributeSet and
// WithAttributes merge as the API defines; name, unit and description
// are kept.
func TestSyncInstruments(t *testing.T) {
	mp := NewMeterProvider()
	m := mp.Meter("scope")
	ctx := context.Background()
	a := attribute.NewSet(attribute.String("topic", "a"))
	withA := metric.WithAttributeSet(a)
	errAttr := metric.WithAttributes(attribute.String("error.type", "x"))

	c, err := m.Int64Counter("c", metric.WithUnit("{record}"), metric.WithDescription("records"))
	if err != nil {
		t.Fatal(err)
	}
	c.Add(ctx, 2, withA)
	c.Add(ctx, 3, withA)
	c.Add(ctx, 1, withA, errAttr)
	c.Add(ctx, 7)
	fc, _ := m.Float64Counter("fc")
	fc.Add(ctx, 0.5, withA)
	fc.Add(ctx, 0.25, withA)
	ud, _ := m.Int64UpDownCounter("ud")
	ud.Add(ctx, 5)
	ud.Add(ctx, -7)
	fud, _ := m.Float64UpDownCounter("fud")
	fud.Add(ctx, -1.5)
	h, _ := m.Float64Histogram("h", metric.WithUnit("s"))
	for _, v := range []float64{0.5, 2, 1} {
		h.Record(ctx, v, withA)
	}
	ih, _ := m.Int64Histogram("ih")
	ih.Record(ctx, 4)
	ih.Record(ctx, -1)
	g, _ := m.Int64Gauge("g")
	g.Record(ctx, 5, withA)
	g.Record(ctx, 3, withA)
	fg, _ := m.Float64Gauge("fg")
	fg.Record(ctx, 1.5)
	if !c.Enabled(ctx) || !h.Enabled(ctx) {
		t.Fatal("instruments not enabled")
	}

	ms := collect(t, mp)
	if got := ms.Int64("c"); got != 13 {
		t.Fatalf("c total %d, want 13", got)
	}
	if p, ok := ms.Point("c", attribute.String("topic", "a")); !ok || p.Int != 5 || p.Count != 2 {
		t.Fatalf("c{topic=a} %+v %v, want 5 over 2 adds", p, ok)
	}
	if p, ok := ms.Point("c", attribute.String("error.type", "x"), attribute.String("topic", "a")); !ok || p.Int != 1 {
		t.Fatalf("c{topic=a,error.type=x} %+v %v: WithAttributeSet and WithAttributes not merged", p, ok)
	}
	if p, ok := ms.Point("c"); !ok || p.Int != 7 {
		t.Fatalf("c{} %+v %v", p, ok)
	}
	if got := ms.Float64("fc"); got != 0.75 {
		t.Fatalf("fc %v", got)
	}
	if ms.Int64("ud") != -2 || ms.Float64("fud") != -1.5 {
		t.Fatalf("up-down counters %d %v", ms.Int64("ud"), ms.Float64("fud"))
	}
	if p, _ := ms.Point("h", attribute.String("topic", "a")); p.Count != 3 || p.Float != 3.5 || p.Min != 0.5 || p.Max != 2 {
		t.Fatalf("h %+v, want count 3 sum 3.5 min 0.5 max 2", p)
	}
	if p, _ := ms.Point("ih"); p.Count != 2 || p.Int != 3 || p.Min != -1 || p.Max != 4 {
		t.Fatalf("ih %+v, want count 2 sum 3 min -1 max 4", p)
	}
	if ms.Int64("g") != 3 || ms.Float64("fg") != 1.5 {
		t.Fatalf("gauges %d %v, want the last values", ms.Int64("g"), ms.Float64("fg"))
	}
	cm, ok := ms.Metric("c")
	if !ok || cm.Kind != Counter || cm.Float || cm.Unit != "{record}" || cm.Description != "records" || cm.Scope != "scope" {
		t.Fatalf("c metric %+v", cm)
	}
	if hm, _ := ms.Metric("h"); hm.Kind != Histogram || !hm.Float || hm.Unit != "s" {
		t.Fatalf("h metric %+v", hm)
	}
	if _, ok := ms.Metric("missing"); ok || ms.Int64("missing") != 0 {
		t.Fatal("a missing instrument was found")
	}
	if s := ms.String(); !strings.Contains(s, "topic=a") || !strings.Contains(s, "scope c Counter") {
		t.Fatalf("String lacks the points:\n%s", s)
	}
}

// TestSharedStream protects the SDK's instrument identity: one name, kind
// and number type created twice (two consumers on one provider) feeds one
// stream; another kind under the same name is another.
func TestSharedStream(t *testing.T) {
	mp := NewMeterProvider()
	ctx := context.Background()
	c1, _ := mp.Meter("s").Int64Counter("n")
	c2, _ := mp.Meter("s").Int64Counter("n")
	h, _ := mp.Meter("s").Int64Histogram("n")
	c1.Add(ctx, 1)
	c2.Add(ctx, 2)
	h.Record(ctx, 10)
	ms := collect(t, mp)
	if len(ms) != 2 {
		t.Fatalf("%d streams, want 2:\n%s", len(ms), ms)
	}
	if m, _ := ms.Metric("n"); m.Kind != Counter || m.Points[0].Int != 3 {
		t.Fatalf("counter %+v, want 3", m)
	}
}

// TestInvalidName: a name the SDK refuses is an error, with an instrument
// that works all the same.
func TestInvalidName(t *testing.T) {
	mp := NewMeterProvider()
	for _, name := range []string{"", "1abc", "a b", strings.Repeat("a", 256)} {
		c, err := mp.Meter("s").Int64Counter(name)
		if !errors.Is(err, ErrInvalidName) || c == nil {
			t.Errorf("%q: %v", name, err)
		}
	}
	if _, err := mp.Meter("s").Float64ObservableGauge("ordo.consumer.lag.time"); err != nil {
		t.Fatal(err)
	}
}

// TestObservable protects the manual-reader behaviour ordo's lag and stuck
// gauges rely on: callbacks run at Collect and not before; each Collect
// reports only the sets observed in it (a revoked partition disappears);
// observable counters report the observed total; callbacks given as
// options run too; Unregister stops a callback; a callback's error and an
// observation of an instrument not registered with it are reported.
func TestObservable(t *testing.T) {
	mp := NewMeterProvider()
	m := mp.Meter("s")
	lag, _ := m.Int64ObservableGauge("lag")
	age, _ := m.Float64ObservableGauge("age")
	total, _ := m.Int64ObservableCounter("total")
	_, _ = m.Float64ObservableUpDownCounter("fud", metric.WithFloat64Callback(func(_ context.Context, o metric.Float64Observer) error {
		o.Observe(-2.5)
		return nil
	}))
	_, _ = m.Int64ObservableUpDownCounter("iud", metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
		o.Observe(4)
		return nil
	}))
	stray, _ := m.Int64ObservableGauge("stray")
	var mu sync.Mutex
	parts, calls := []string{"0", "1"}, 0
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		mu.Lock()
		defer mu.Unlock()
		calls++
		for _, p := range parts {
			set := metric.WithAttributeSet(attribute.NewSet(attribute.String("partition", p)))
			o.ObserveInt64(lag, int64(calls), set)
			o.ObserveFloat64(age, 0.5, set)
		}
		o.ObserveInt64(total, 10*int64(calls))
		return nil
	}, lag, age, total)
	if err != nil {
		t.Fatal(err)
	}
	if calls != 0 {
		t.Fatal("a callback ran before Collect")
	}
	ms := collect(t, mp)
	if ms.Int64("lag") != 2 || len(ms.Points("lag")) != 2 || ms.Float64("age") != 1 || ms.Int64("total") != 10 {
		t.Fatalf("first collection:\n%s", ms)
	}
	if ms.Float64("fud") != -2.5 || ms.Int64("iud") != 4 {
		t.Fatalf("option callbacks:\n%s", ms)
	}
	mu.Lock()
	parts = parts[:1]
	mu.Unlock()
	ms = collect(t, mp)
	if p, _ := ms.Point("lag", attribute.String("partition", "0")); len(ms.Points("lag")) != 1 || p.Int != 2 || ms.Int64("total") != 20 {
		t.Fatalf("second collection, partition 1 gone:\n%s", ms)
	}
	if err := reg.Unregister(); err != nil {
		t.Fatal(err)
	}
	if ms = collect(t, mp); len(ms.Points("lag")) != 0 || calls != 2 {
		t.Fatalf("after Unregister: %d calls\n%s", calls, ms)
	}

	boom := errors.New("boom")
	if _, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(stray, 1)
		o.ObserveInt64(lag, 5)
		return boom
	}, lag); err != nil {
		t.Fatal(err)
	}
	ms, err = mp.Collect(context.Background())
	if !errors.Is(err, boom) || !strings.Contains(fmt.Sprint(err), "stray") {
		t.Fatalf("Collect error %v, want boom and the stray observation", err)
	}
	if ms.Int64("lag") != 5 || len(ms.Points("stray")) != 0 {
		t.Fatalf("data of a failed collection:\n%s", ms)
	}
	if _, err := m.RegisterCallback(nil, foreign{}); err == nil {
		t.Fatal("an instrument of another implementation was accepted")
	}
}

type foreign struct{ metric.Int64Observable }

// TestMessagingConv protects the semantic-convention wrappers ordo uses:
// AddSet, RecordSet and Inst reach the provider's instruments.
func TestMessagingConv(t *testing.T) {
	mp := NewMeterProvider()
	m := mp.Meter("ordo")
	sent, err := messagingconv.NewClientSentMessages(m)
	if err != nil {
		t.Fatal(err)
	}
	dur, err := messagingconv.NewClientOperationDuration(m)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	set := attribute.NewSet(attribute.String("messaging.system", "kafka"))
	sent.AddSet(ctx, 1, set)
	sent.Inst().Add(ctx, 1, metric.WithAttributeSet(set), metric.WithAttributes(attribute.String("error.type", "x")))
	if !dur.Enabled(ctx) {
		t.Fatal("duration not enabled")
	}
	dur.RecordSet(ctx, 0.25, set)
	ms := collect(t, mp)
	if ms.Int64("messaging.client.sent.messages") != 2 || len(ms.Points("messaging.client.sent.messages")) != 2 {
		t.Fatalf("sent:\n%s", ms)
	}
	if ms.Count("messaging.client.operation.duration") != 1 || ms.Float64("messaging.client.operation.duration") != 0.25 {
		t.Fatalf("duration:\n%s", ms)
	}
}

// TestConcurrentMeasurements: measurements and collections from many
// goroutines add up (run with -race).
func TestConcurrentMeasurements(t *testing.T) {
	mp := NewMeterProvider()
	c, _ := mp.Meter("s").Int64Counter("c")
	g, _ := mp.Meter("s").Int64ObservableGauge("g")
	if _, err := mp.Meter("s").RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(g, 1)
		return nil
	}, g); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			set := metric.WithAttributes(attribute.Int("g", i%2))
			for range 100 {
				c.Add(context.Background(), 1, set)
			}
			if _, err := mp.Collect(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ms := collect(t, mp); ms.Int64("c") != 800 || ms.Int64("g") != 1 {
		t.Fatalf("after concurrent use:\n%s", ms)
	}
}
