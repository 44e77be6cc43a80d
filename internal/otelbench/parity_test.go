package otelbench

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordo-go/ordo/consumer"
	"github.com/ordo-go/ordo/internal/oteltest"
	"github.com/ordo-go/ordo/producer"
)

// The parity tests run the same calls against the SDK and oteltest and
// compare what each recorded, reduced to what does not vary between runs
// (span names stand for IDs, times are left out).

// spanView is a recorded span without its IDs and times.
type spanView struct {
	Name, Kind, Parent, Status string
	SameTrace, Sampled         bool // as its parent's trace; flagged sampled
	Attrs, Links, Events       string
}

// tracing is a tracer provider under test and a way to read its spans.
type tracing struct {
	tp    trace.TracerProvider
	spans func() []spanView
}

func sdkTracing(t *testing.T, s sdktrace.Sampler) tracing {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithSampler(s))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tracing{tp: tp, spans: func() []spanView {
		var in []rawSpan
		for _, s := range exp.GetSpans() {
			r := rawSpan{name: s.Name, kind: s.SpanKind, sc: s.SpanContext, parent: s.Parent, attrs: s.Attributes,
				status: s.Status.Code.String() + ":" + s.Status.Description}
			for _, l := range s.Links {
				r.links = append(r.links, trace.Link{SpanContext: l.SpanContext, Attributes: l.Attributes})
			}
			for _, e := range s.Events {
				r.events = append(r.events, e.Name+" "+masked(e.Attributes))
			}
			in = append(in, r)
		}
		return views(in)
	}}
}

func oteltestTracing(s oteltest.Sampler) tracing {
	tp := oteltest.NewTracerProvider(oteltest.WithSampler(s))
	return tracing{tp: tp, spans: func() []spanView {
		var in []rawSpan
		for _, s := range tp.Spans() {
			r := rawSpan{name: s.Name, kind: s.SpanKind, sc: s.SpanContext, parent: s.Parent, attrs: s.Attributes,
				links: s.Links, status: s.Status.Code.String() + ":" + s.Status.Description}
			for _, e := range s.Events {
				r.events = append(r.events, e.Name+" "+masked(e.Attributes))
			}
			in = append(in, r)
		}
		return views(in)
	}}
}

type rawSpan struct {
	name       string
	kind       trace.SpanKind
	sc, parent trace.SpanContext
	attrs      []attribute.KeyValue
	links      []trace.Link
	events     []string
	status     string
}

// views replaces span IDs by span names ("remote" for a parent that was
// not recorded).
func views(in []rawSpan) []spanView {
	byID := make(map[trace.SpanID]string)
	for _, s := range in {
		byID[s.sc.SpanID()] = s.name
	}
	name := func(sc trace.SpanContext) string {
		if !sc.IsValid() {
			return ""
		}
		if n, ok := byID[sc.SpanID()]; ok {
			return n
		}
		return "remote"
	}
	var out []spanView
	for _, s := range in {
		v := spanView{Name: s.name, Kind: s.kind.String(), Parent: name(s.parent), Status: s.status,
			SameTrace: !s.parent.IsValid() || s.parent.TraceID() == s.sc.TraceID(), Sampled: s.sc.IsSampled(),
			Attrs: masked(s.attrs), Events: strings.Join(s.events, ";")}
		for _, l := range s.links {
			v.Links += name(l.SpanContext) + fmt.Sprint(l.Attributes) + ";"
		}
		out = append(out, v)
	}
	slices.SortStableFunc(out, func(a, b spanView) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// masked renders attributes, those that vary from run to run masked.
func masked(attrs []attribute.KeyValue) string {
	var b strings.Builder
	for _, a := range attrs {
		v := a.Value.String()
		if a.Key == "messaging.message.id" || a.Key == "ordo.retry.in_ms" { // random
			v = "<" + string(a.Key) + ">"
		}
		fmt.Fprintf(&b, "%s=%s ", a.Key, v)
	}
	return b.String()
}

// spanScript makes the calls ordo makes on spans, and the edge cases of
// their rules.
func spanScript(tp trace.TracerProvider) {
	tr := tp.Tracer("parity")
	ctx, root := tr.Start(context.Background(), "root", trace.WithAttributes(attribute.String("at", "start")))
	_, c := tr.Start(ctx, "child", trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithLinks(trace.Link{SpanContext: root.SpanContext()}, trace.Link{}))
	c.SetAttributes(attribute.String("k", "1"), attribute.Int("n", 1), attribute.KeyValue{})
	c.SetAttributes(attribute.String("k", "2"))
	c.AddEvent("note", trace.WithAttributes(attribute.Bool("b", true)))
	c.RecordError(errors.New("boom"))
	c.RecordError(fmt.Errorf("wrapped: %w", errors.New("x")))
	c.SetStatus(codes.Error, "bad")
	c.SetStatus(codes.Unset, "")
	c.End()
	c.End()
	c.SetAttributes(attribute.String("late", "1"))
	_, ok := tr.Start(ctx, "ok", trace.WithSpanKind(trace.SpanKindProducer))
	ok.SetStatus(codes.Ok, "dropped")
	ok.SetStatus(codes.Error, "ignored")
	ok.End()
	remote := trace.ContextWithRemoteSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, Remote: true}))
	_, unsampled := tr.Start(remote, "under-unsampled")
	unsampled.End()
	sampledRemote := trace.ContextWithRemoteSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1}, SpanID: trace.SpanID{3}, TraceFlags: trace.FlagsSampled, Remote: true}))
	_, sampled := tr.Start(sampledRemote, "under-sampled")
	sampled.End()
	_, nr := tr.Start(ctx, "new-root", trace.WithNewRoot())
	nr.End()
	root.End()
}

// TestSpanParity protects oteltest's spans against the SDK's under the
// SDK's default sampler and AlwaysSample.
func TestSpanParity(t *testing.T) {
	cases := []struct {
		name string
		sdk  sdktrace.Sampler
		ot   oteltest.Sampler
	}{
		{"parent-based", sdktrace.ParentBased(sdktrace.AlwaysSample()), oteltest.ParentBased},
		{"always", sdktrace.AlwaysSample(), oteltest.AlwaysSample},
		{"never", sdktrace.NeverSample(), oteltest.NeverSample},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want, got := sdkTracing(t, c.sdk), oteltestTracing(c.ot)
			spanScript(want.tp)
			spanScript(got.tp)
			compareSpans(t, want.spans(), got.spans())
		})
	}
}

func compareSpans(t *testing.T, want, got []spanView) {
	t.Helper()
	if fmt.Sprintf("%+v", want) != fmt.Sprintf("%+v", got) {
		t.Fatalf("spans differ\nsdk:      %+v\noteltest: %+v", want, got)
	}
}

// TestNeverSampleParity protects what propagation under a never-sampling
// tracer looks like: spans that do not record, with a valid span context
// that is not sampled, continued by children and injected by the W3C
// propagator.
func TestNeverSampleParity(t *testing.T) {
	look := func(tp trace.TracerProvider) string {
		tr := tp.Tracer("parity")
		ctx, root := tr.Start(context.Background(), "root")
		cctx, child := tr.Start(ctx, "child")
		carrier := propagation.MapCarrier{}
		propagation.TraceContext{}.Inject(cctx, carrier)
		rsc, csc := root.SpanContext(), child.SpanContext()
		return fmt.Sprintf("recording=%v,%v valid=%v,%v sampled=%v,%v remote=%v same-trace=%v new-span=%v traceparent-ok=%v",
			root.IsRecording(), child.IsRecording(), rsc.IsValid(), csc.IsValid(), rsc.IsSampled(), csc.IsSampled(),
			csc.IsRemote(), rsc.TraceID() == csc.TraceID(), rsc.SpanID() != csc.SpanID(),
			carrier["traceparent"] == fmt.Sprintf("00-%s-%s-00", csc.TraceID(), csc.SpanID()))
	}
	sdk := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))
	defer func() { _ = sdk.Shutdown(context.Background()) }()
	want, got := look(sdk), look(oteltest.NewTracerProvider(oteltest.WithSampler(oteltest.NeverSample)))
	if want != got {
		t.Fatalf("never-sampled spans differ\nsdk:      %s\noteltest: %s", want, got)
	}
}

// metricScript makes the calls ordo makes on instruments and collects
// twice, a partition gone between the collections.
func metricScript(t *testing.T, mp metric.MeterProvider, collect func() map[string]string) []map[string]string {
	m := mp.Meter("parity")
	ctx := context.Background()
	base := attribute.NewSet(attribute.String("topic", "t"))
	c, _ := m.Int64Counter("c", metric.WithUnit("{record}"))
	c.Add(ctx, 2, metric.WithAttributeSet(base))
	c.Add(ctx, 1, metric.WithAttributeSet(base), metric.WithAttributes(attribute.String("error.type", "x")))
	c2, _ := m.Int64Counter("c", metric.WithUnit("{record}")) // a second consumer on the provider
	c2.Add(ctx, 4, metric.WithAttributeSet(base))
	h, _ := m.Float64Histogram("h", metric.WithUnit("s"))
	h.Record(ctx, 0.5, metric.WithAttributeSet(base))
	h.Record(ctx, 1.5, metric.WithAttributeSet(base))
	ih, _ := m.Int64Histogram("ih")
	ih.Record(ctx, 3)
	ud, _ := m.Int64UpDownCounter("ud")
	ud.Add(ctx, -2)
	g, _ := m.Int64Gauge("g")
	g.Record(ctx, 7)
	g.Record(ctx, 5)
	lag, _ := m.Int64ObservableGauge("lag")
	age, _ := m.Float64ObservableGauge("age")
	var parts atomic.Int32
	parts.Store(2)
	if _, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for p := range parts.Load() {
			set := metric.WithAttributeSet(attribute.NewSet(attribute.Int("partition", int(p))))
			o.ObserveInt64(lag, int64(10+p), set)
			o.ObserveFloat64(age, 0.25, set)
		}
		return nil
	}, lag, age); err != nil {
		t.Fatal(err)
	}
	first := collect()
	parts.Store(1)
	c.Add(ctx, 1, metric.WithAttributeSet(base))
	return []map[string]string{first, collect()}
}

// TestMetricParity protects oteltest's aggregation against the SDK's
// manual reader (cumulative, the default).
func TestMetricParity(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	sdk := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = sdk.Shutdown(context.Background()) }()
	want := metricScript(t, sdk, func() map[string]string { return sdkPoints(t, reader) })
	ot := oteltest.NewMeterProvider()
	got := metricScript(t, ot, func() map[string]string { return oteltestPoints(t, ot) })
	for i := range want {
		if !maps.Equal(want[i], got[i]) {
			t.Fatalf("collection %d differs\nsdk:      %v\noteltest: %v", i, want[i], got[i])
		}
	}
}

// sdkPoints collects the SDK's metrics as "name{attrs}" -> value, or
// "count=… sum=…" for a histogram.
func sdkPoints(t *testing.T, r sdkmetric.Reader) map[string]string {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := make(map[string]string)
	key := func(name string, set attribute.Set) string {
		return name + "{" + set.Encoded(attribute.DefaultEncoder()) + "}"
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					out[key(m.Name, p.Attributes)] = fmt.Sprint(p.Value)
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					out[key(m.Name, p.Attributes)] = fmt.Sprint(p.Value)
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					out[key(m.Name, p.Attributes)] = fmt.Sprint(p.Value)
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					out[key(m.Name, p.Attributes)] = fmt.Sprintf("count=%d sum=%g", p.Count, p.Sum)
				}
			case metricdata.Histogram[int64]:
				for _, p := range d.DataPoints {
					out[key(m.Name, p.Attributes)] = fmt.Sprintf("count=%d sum=%g", p.Count, float64(p.Sum))
				}
			default:
				t.Fatalf("%s: unexpected %T", m.Name, m.Data)
			}
		}
	}
	return out
}

// oteltestPoints is sdkPoints for oteltest.
func oteltestPoints(t *testing.T, mp *oteltest.MeterProvider) map[string]string {
	t.Helper()
	ms, err := mp.Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]string)
	for _, m := range ms {
		for _, p := range m.Points {
			k := m.Name + "{" + p.Attributes.Encoded(attribute.DefaultEncoder()) + "}"
			switch {
			case m.Kind == oteltest.Histogram && m.Float:
				out[k] = fmt.Sprintf("count=%d sum=%g", p.Count, p.Float)
			case m.Kind == oteltest.Histogram:
				out[k] = fmt.Sprintf("count=%d sum=%g", p.Count, float64(p.Int))
			case m.Float:
				out[k] = fmt.Sprint(p.Float)
			default:
				out[k] = fmt.Sprint(p.Int)
			}
		}
	}
	return out
}

// TestOrdoParity runs one event through ordo's producer and consumer, its
// first attempt failing, once with the SDK and once with oteltest, and
// compares the spans and the metrics (histograms by count: durations
// vary) that ordo recorded.
func TestOrdoParity(t *testing.T) {
	sdkTP := sdkTracing(t, sdktrace.ParentBased(sdktrace.AlwaysSample()))
	reader := sdkmetric.NewManualReader()
	sdkMP := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = sdkMP.Shutdown(context.Background()) }()
	runOrdo(t, sdkTP.tp, sdkMP)
	want, wantM := sdkTP.spans(), durationless(sdkPoints(t, reader))

	otTP := oteltestTracing(oteltest.ParentBased)
	otMP := oteltest.NewMeterProvider()
	runOrdo(t, otTP.tp, otMP)
	got, gotM := otTP.spans(), durationless(oteltestPoints(t, otMP))

	if len(want) < 4 {
		t.Fatalf("the SDK recorded %d spans: %+v", len(want), want)
	}
	compareSpans(t, want, got)
	if len(wantM) == 0 || !maps.Equal(wantM, gotM) {
		t.Fatalf("metrics differ\nsdk:      %v\noteltest: %v", wantM, gotM)
	}
}

// durationless keeps a histogram's count only.
func durationless(m map[string]string) map[string]string {
	for k, v := range m {
		if c, _, ok := strings.Cut(v, " sum="); ok {
			m[k] = c
		}
	}
	return m
}

// runOrdo publishes one event under a caller's span and consumes it, the
// first attempt failing, on a fresh cluster.
func runOrdo(t *testing.T, tp trace.TracerProvider, mp metric.MeterProvider) {
	e := startEnv(t)
	prop := propagation.TraceContext{}
	pub := e.publisher(t, producer.WithTracerProvider(tp), producer.WithPropagator(prop), producer.WithMeterProvider(mp))
	ctx, caller := tp.Tracer("caller").Start(context.Background(), "checkout")
	if _, err := pub.Publish(ctx, Created{"o-1", 1}); err != nil {
		t.Fatal(err)
	}
	caller.End()
	var calls, handled atomic.Int32
	c, err := consumer.New(consumer.Brokers(e.cluster.Brokers()...), consumer.Group("parity"),
		consumer.Topics("orders"), consumer.Registry(e.reg), consumer.WithLogger(quiet),
		consumer.WithTracerProvider(tp), consumer.WithPropagator(prop), consumer.WithMeterProvider(mp),
		consumer.Retry(2, time.Millisecond, time.Millisecond),
		consumer.On(e.codec, func(context.Context, Created, consumer.Meta) error {
			if calls.Add(1) == 1 {
				return errors.New("first attempt fails")
			}
			handled.Add(1)
			return nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	ran := make(chan error, 1)
	go func() { ran <- c.Run(context.Background()) }()
	for deadline := time.Now().Add(10 * time.Second); handled.Load() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the event was not handled")
		}
	}
	c.Close()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
}
