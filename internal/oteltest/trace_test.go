package oteltest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// TestSpanTree protects what ordo's tests read from ended spans: names,
// kinds (internal by default), the parent and trace of each span, start
// attributes and links, events, status and times, in the order spans end.
func TestSpanTree(t *testing.T) {
	tp := NewTracerProvider()
	tr := tp.Tracer("scope")
	ctx, root := tr.Start(context.Background(), "root")
	link := trace.Link{SpanContext: root.SpanContext(), Attributes: []attribute.KeyValue{attribute.Int("n", 1)}}
	_, child := tr.Start(ctx, "child", trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.String("a", "1")), trace.WithLinks(link, trace.Link{}))
	child.AddEvent("ev", trace.WithAttributes(attribute.Bool("b", true)))
	child.SetStatus(codes.Error, "bad")
	child.End()
	root.End()

	spans := tp.Spans()
	if len(spans) != 2 || spans[0].Name != "child" || spans[1].Name != "root" {
		t.Fatalf("spans %v, want child then root", spans)
	}
	c, r := spans[0], spans[1]
	if r.SpanKind != trace.SpanKindInternal || r.Parent.IsValid() || !r.SpanContext.IsValid() || !r.SpanContext.IsSampled() {
		t.Fatalf("root: kind %v parent %v sc %v; want internal, no parent, valid and sampled", r.SpanKind, r.Parent, r.SpanContext)
	}
	if c.SpanKind != trace.SpanKindConsumer || c.Parent.SpanID() != r.SpanContext.SpanID() ||
		c.SpanContext.TraceID() != r.SpanContext.TraceID() || c.SpanContext.SpanID() == r.SpanContext.SpanID() {
		t.Fatalf("child: kind %v parent %v sc %v; want consumer, child of %v", c.SpanKind, c.Parent, c.SpanContext, r.SpanContext)
	}
	if v, ok := c.Attr("a"); !ok || v.AsString() != "1" {
		t.Fatalf("start attribute: %v", c.Attributes)
	}
	if len(c.Links) != 1 || c.Links[0].SpanContext.SpanID() != r.SpanContext.SpanID() || len(c.Links[0].Attributes) != 1 {
		t.Fatalf("links %v: want the one to root (an empty link is dropped)", c.Links)
	}
	if len(c.Events) != 1 || c.Events[0].Name != "ev" || len(c.Events[0].Attributes) != 1 || c.Events[0].Time.IsZero() {
		t.Fatalf("events %v", c.Events)
	}
	if c.Status != (Status{codes.Error, "bad"}) {
		t.Fatalf("status %v", c.Status)
	}
	if c.StartTime.IsZero() || c.EndTime.Before(c.StartTime) || c.Scope != "scope" {
		t.Fatalf("start %v end %v scope %q", c.StartTime, c.EndTime, c.Scope)
	}
	if root.TracerProvider() != tp {
		t.Fatal("a span's TracerProvider is not its provider")
	}
}

// TestSpanMutations protects the SDK's rules for a span's data: the last
// value of an attribute wins (at its first place), invalid attributes are
// dropped, a status never moves down and only Error keeps a description,
// RecordError adds an "exception" event without touching the status, and
// nothing changes a span once ended.
func TestSpanMutations(t *testing.T) {
	tp := NewTracerProvider()
	_, s := tp.Tracer("t").Start(context.Background(), "s", trace.WithTimestamp(time.Unix(1, 0)))
	s.SetAttributes(attribute.String("k", "v1"), attribute.String("x", "y"), attribute.KeyValue{})
	s.SetAttributes(attribute.String("k", "v2"))
	s.SetStatus(codes.Ok, "ignored")
	s.SetStatus(codes.Error, "too late")
	s.RecordError(errors.New("boom"))
	s.RecordError(nil)
	s.SetName("renamed")
	if !s.IsRecording() {
		t.Fatal("a sampled span does not record")
	}
	s.End(trace.WithTimestamp(time.Unix(2, 0)))
	s.End()
	s.SetAttributes(attribute.String("after", "end"))
	s.SetStatus(codes.Error, "after end")
	s.AddEvent("after end")
	if s.IsRecording() {
		t.Fatal("an ended span records")
	}

	spans := tp.Spans()
	if len(spans) != 1 {
		t.Fatalf("%d spans after two Ends, want 1", len(spans))
	}
	got := spans[0]
	want := []attribute.KeyValue{attribute.String("k", "v2"), attribute.String("x", "y")}
	if fmt.Sprint(got.Attributes) != fmt.Sprint(want) {
		t.Fatalf("attributes %v, want %v", got.Attributes, want)
	}
	if got.Status != (Status{Code: codes.Ok}) || got.Name != "renamed" {
		t.Fatalf("status %v name %q, want Ok without description, renamed", got.Status, got.Name)
	}
	if len(got.Events) != 1 || got.Events[0].Name != "exception" {
		t.Fatalf("events %v, want one exception", got.Events)
	}
	ev := Span{Attributes: got.Events[0].Attributes}
	if typ, _ := ev.Attr("exception.type"); typ.AsString() != "*errors.errorString" {
		t.Fatalf("exception.type %q", typ.AsString())
	}
	if msg, _ := ev.Attr("exception.message"); msg.AsString() != "boom" {
		t.Fatalf("exception.message %q", msg.AsString())
	}
	if !got.StartTime.Equal(time.Unix(1, 0)) || !got.EndTime.Equal(time.Unix(2, 0)) {
		t.Fatalf("times %v..%v, want the ones given", got.StartTime, got.EndTime)
	}
}

// TestNeverSample protects what ordo's propagation tests rely on under a
// never-sampling tracer: no span records, yet each has a valid span
// context, not sampled, that children continue (same trace, parent's span
// ID not reused) and the W3C propagator injects.
func TestNeverSample(t *testing.T) {
	tp := NewTracerProvider(WithSampler(NeverSample))
	tr := tp.Tracer("t")
	ctx, root := tr.Start(context.Background(), "root")
	cctx, child := tr.Start(ctx, "child")
	for _, s := range []trace.Span{root, child} {
		sc := s.SpanContext()
		if s.IsRecording() || !sc.IsValid() || sc.IsSampled() || sc.IsRemote() {
			t.Fatalf("span %v: recording %v; want valid, not sampled, not recording", sc, s.IsRecording())
		}
	}
	if child.SpanContext().TraceID() != root.SpanContext().TraceID() || child.SpanContext().SpanID() == root.SpanContext().SpanID() {
		t.Fatalf("child %v of root %v: want the same trace, a new span", child.SpanContext(), root.SpanContext())
	}
	if trace.SpanFromContext(cctx) != child || child.TracerProvider() != tp {
		t.Fatal("the child's context does not carry it, or it lost its provider")
	}
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(cctx, carrier)
	want := fmt.Sprintf("00-%s-%s-00", child.SpanContext().TraceID(), child.SpanContext().SpanID())
	if carrier["traceparent"] != want {
		t.Fatalf("traceparent %q, want %q", carrier["traceparent"], want)
	}
	child.SetAttributes(attribute.String("a", "b"))
	child.End()
	root.End()
	if n := len(tp.Spans()); n != 0 {
		t.Fatalf("%d spans recorded, want none", n)
	}
}

// TestSamplers protects the samplers' decisions under a remote parent,
// sampled or not, and for WithNewRoot.
func TestSamplers(t *testing.T) {
	remote := func(flags trace.TraceFlags) context.Context {
		return trace.ContextWithRemoteSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: flags, Remote: true}))
	}
	tests := []struct {
		name    string
		sampler Sampler
		parent  context.Context
		opts    []trace.SpanStartOption
		records bool
		ofTrace bool // continues trace {1}
	}{
		{"parent-based/sampled", ParentBased, remote(trace.FlagsSampled), nil, true, true},
		{"parent-based/unsampled", ParentBased, remote(0), nil, false, true},
		{"parent-based/root", ParentBased, context.Background(), nil, true, false},
		{"always/unsampled", AlwaysSample, remote(0), nil, true, true},
		{"never/sampled", NeverSample, remote(trace.FlagsSampled), nil, false, true},
		{"new-root", ParentBased, remote(0), []trace.SpanStartOption{trace.WithNewRoot()}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp := NewTracerProvider(WithSampler(tt.sampler))
			_, s := tp.Tracer("t").Start(tt.parent, "s", tt.opts...)
			sc := s.SpanContext()
			if s.IsRecording() != tt.records || sc.IsSampled() != tt.records || !sc.IsValid() {
				t.Fatalf("recording %v, sc %v; want recording and sampled %v", s.IsRecording(), sc, tt.records)
			}
			if (sc.TraceID() == trace.TraceID{1}) != tt.ofTrace {
				t.Fatalf("trace %v; want the parent's %v", sc.TraceID(), tt.ofTrace)
			}
			s.End()
			if got := len(tp.Spans()); got != map[bool]int{true: 1}[tt.records] {
				t.Fatalf("%d spans recorded", got)
			}
		})
	}
}

// TestConcurrentSpans: spans started, changed and ended from many
// goroutines are all recorded with distinct IDs (run with -race).
func TestConcurrentSpans(t *testing.T) {
	tp := NewTracerProvider()
	ctx, root := tp.Tracer("t").Start(context.Background(), "root")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				_, s := tp.Tracer("t").Start(ctx, "child")
				s.SetAttributes(attribute.Int("i", 1))
				go s.SetStatus(codes.Error, "x")
				s.End()
				_ = tp.Spans()
			}
		})
	}
	wg.Wait()
	root.End()
	ids := make(map[trace.SpanID]bool)
	for _, s := range tp.Spans() {
		ids[s.SpanContext.SpanID()] = true
	}
	if len(ids) != 401 {
		t.Fatalf("%d distinct spans, want 401", len(ids))
	}
	tp.Reset()
	if len(tp.Spans()) != 0 {
		t.Fatal("Reset kept spans")
	}
}
