package telemetry

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// TestCarrierRoundTrip protects propagation through record headers, and
// that injecting twice replaces rather than appends.
func TestCarrierRoundTrip(t *testing.T) {
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5}, TraceFlags: trace.FlagsSampled,
	})
	ctx := trace.ContextWithSpanContext(context.Background(), sc)
	prop := propagation.TraceContext{}
	r := &kgo.Record{Headers: []kgo.RecordHeader{{Key: "ordo-type", Value: []byte("x")}}}
	prop.Inject(ctx, Carrier{r})
	prop.Inject(ctx, Carrier{r})
	if len(r.Headers) != 2 {
		t.Fatalf("headers after two injections: %v", r.Headers)
	}
	got := trace.SpanContextFromContext(prop.Extract(context.Background(), Carrier{r}))
	if got.TraceID() != sc.TraceID() || got.SpanID() != sc.SpanID() || !got.IsRemote() {
		t.Fatalf("extracted %v, want %v", got, sc)
	}
}

func TestLoggerAddsTraceID(t *testing.T) {
	var buf bytes.Buffer
	l := Logger(slog.New(slog.NewTextHandler(&buf, nil))).With("component", "test")
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{0xab}, SpanID: trace.SpanID{0xcd}})
	l.InfoContext(trace.ContextWithSpanContext(context.Background(), sc), "hello")
	l.Info("no span")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if !strings.Contains(lines[0], "trace_id=ab000000") || !strings.Contains(lines[0], "component=test") {
		t.Fatalf("line with span: %s", lines[0])
	}
	if strings.Contains(lines[1], "trace_id") {
		t.Fatalf("line without span: %s", lines[1])
	}
}

func TestRedactedKeys(t *testing.T) {
	r := &kgo.Record{Key: []byte("secret"), Offset: -1}
	for _, a := range (Config{RedactKeys: true}).RecordAttrs(r, "", "T") {
		if a.Value.AsString() == "secret" {
			t.Fatalf("redacted config leaked the key in %v", a)
		}
	}
	if (Config{RedactKeys: true}).LogKey([]byte("secret")).Value.String() == "secret" {
		t.Fatal("log key not redacted")
	}
}

// TestIdle: the default global provider is idle until an SDK is installed;
// any other provider never is.
func TestIdle(t *testing.T) {
	global := otel.GetTracerProvider()
	idle := NewIdle(global)
	if !idle.Now() {
		t.Fatal("default global provider not idle")
	}
	if NewIdle(noop.NewTracerProvider()).Now() {
		t.Fatal("an explicit provider taken for idle")
	}
	otel.SetTracerProvider(noop.NewTracerProvider())
	if idle.Now() {
		t.Fatal("still idle after SetTracerProvider")
	}
}
