package telemetry

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"unicode/utf8"

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

// TestKeyTextBounded protects log lines, error texts and spans from keys
// and header values of megabytes: at most MaxText bytes of them, cut on a
// UTF-8 boundary and marked with the length; shorter ones whole.
func TestKeyTextBounded(t *testing.T) {
	if MaxText != 128 {
		t.Fatalf("MaxText %d: the consumer's and producer's docs say 128", MaxText)
	}
	big := []byte(strings.Repeat("é", 1<<19)) // 1MiB of 2-byte runes
	want := strings.Repeat("é", MaxText/2) + "…(1048576 bytes)"
	if got := KeyText(big, false); got != want {
		t.Fatalf("KeyText of 1MiB: %d bytes %.40q…, want %q", len(got), got, want)
	}
	odd := append([]byte("x"), big[:MaxText+10]...) // the cut falls inside a rune
	if got := Clip(odd); !utf8.ValidString(got) || len(got) > MaxText+len("…(139 bytes)") {
		t.Fatalf("Clip cut a rune or overran: %q", got)
	}
	if got := Clip("order-42"); got != "order-42" {
		t.Fatalf("short text changed: %q", got)
	}
	r := &kgo.Record{Key: big, Offset: -1}
	for _, a := range (Config{}).RecordAttrs(r, string(big), string(big)) {
		if n := len(a.Value.AsString()); n > MaxText+32 {
			t.Fatalf("span attribute %s carries %d bytes", a.Key, n)
		}
	}
	if n := len((Config{}).LogKey(big).Value.String()); n > MaxText+32 {
		t.Fatalf("log key carries %d bytes", n)
	}
}
