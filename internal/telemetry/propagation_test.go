package telemetry

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// TestPropagationFollowsTheGlobal protects what skipping the dormant
// global propagator must not lose: a propagator installed after the
// Propagation was made is used at once, both ways, and an explicit one
// always is.
func TestPropagationFollowsTheGlobal(t *testing.T) {
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled, Remote: true,
	})
	ctx := trace.ContextWithRemoteSpanContext(context.Background(), sc)
	roundTrip := func(p *Propagation) trace.SpanContext {
		r := &kgo.Record{}
		p.Inject(ctx, r)
		return trace.SpanContextFromContext(p.Extract(context.Background(), r))
	}

	if got := roundTrip(NewPropagation(propagation.TraceContext{})); !got.Equal(sc) {
		t.Fatalf("explicit propagator: %v, want %v", got, sc)
	}
	global := NewPropagation(otel.GetTextMapPropagator())
	if !global.dormant.Load() {
		t.Fatal("a global propagator was installed before this test: run it in a process of its own")
	}
	if got := roundTrip(global); got.IsValid() {
		t.Fatalf("no propagator installed: %v carried, want nothing", got)
	}
	otel.SetTextMapPropagator(propagation.TraceContext{})
	if got := roundTrip(global); !got.Equal(sc) {
		t.Fatalf("propagator installed later: %v, want %v", got, sc)
	}
}
