package consumer

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordo-go/ordo/internal/header"
	"github.com/ordo-go/ordo/internal/oteltest"
	"github.com/ordo-go/ordo/schema"
)

// syncBuffer is a bytes.Buffer safe for a logger shared by lanes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestTraceContinuesProducerSpan: the record's process span is a child of
// the producer's span from the traceparent header (and links to it), each
// attempt is its own span under it, the handler's ctx carries the attempt
// span, and a failed attempt is recorded as an error.
func TestTraceContinuesProducerSpan(t *testing.T) {
	f := newFixture(t, 2)
	tp := oteltest.NewTracerProvider()
	prop := propagation.TraceContext{}

	// The "producer" span, injected into the record's headers.
	pctx, pspan := tp.Tracer("test").Start(context.Background(), "send steps", trace.WithSpanKind(trace.SpanKindProducer))
	r := f.record(Step{Key: "traced", Seq: 1})
	prop.Inject(pctx, carrier{r})
	pspan.End()
	if err := f.cl.ProduceSync(context.Background(), r).FirstErr(); err != nil {
		t.Fatal(err)
	}

	var handlerSpan atomic.Value
	var calls atomic.Int32
	h := func(ctx context.Context, s Step, m Meta) error {
		handlerSpan.Store(trace.SpanContextFromContext(ctx))
		if calls.Add(1) == 1 {
			return errors.New("first try fails")
		}
		return nil
	}
	c := f.consumer("traced", h, WithTracerProvider(tp), WithPropagator(prop), Retry(3, time.Millisecond, time.Millisecond))
	wait := runConsumer(t, c)
	waitFor(t, 10*time.Second, "the record", func() bool { return c.Stats().Handled == 1 })
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}

	spans := tp.Spans()
	byName := make(map[string][]oteltest.Span)
	for _, s := range spans {
		byName[s.Name] = append(byName[s.Name], s)
	}
	process := byName["process steps"]
	if len(process) != 1 {
		t.Fatalf("process spans: %d, all: %v", len(process), names(spans))
	}
	ps := process[0]
	if ps.SpanKind != trace.SpanKindConsumer || ps.Parent.SpanID() != pspan.SpanContext().SpanID() ||
		ps.SpanContext.TraceID() != pspan.SpanContext().TraceID() {
		t.Fatalf("process span kind %v parent %v trace %v; want consumer, child of %v",
			ps.SpanKind, ps.Parent.SpanID(), ps.SpanContext.TraceID(), pspan.SpanContext())
	}
	if len(ps.Links) != 1 || ps.Links[0].SpanContext.SpanID() != pspan.SpanContext().SpanID() {
		t.Fatalf("process span links: %v", ps.Links)
	}
	want := map[attribute.Key]string{
		"messaging.system": "kafka", "messaging.destination.name": f.topic, "messaging.operation.type": "process",
		"messaging.consumer.group.name": "traced", "messaging.kafka.message.key": "traced",
		"ordo.event.type": "ordo.test.Step", "ordo.outcome": "handled",
	}
	checkAttrs(t, ps.Attributes, want)
	attempts := byName["handle ordo.test.Step"]
	if len(attempts) != 2 {
		t.Fatalf("attempt spans: %d, want 2", len(attempts))
	}
	for i, a := range attempts {
		if a.Parent.SpanID() != ps.SpanContext.SpanID() {
			t.Fatalf("attempt %d is not a child of the process span", i)
		}
	}
	if attempts[0].Status.Code != codes.Error || attempts[1].Status.Code == codes.Error {
		t.Fatalf("attempt statuses: %v, %v", attempts[0].Status, attempts[1].Status)
	}
	if got := handlerSpan.Load().(trace.SpanContext); got.SpanID() != attempts[1].SpanContext.SpanID() {
		t.Fatalf("handler ctx carries span %v, want the attempt span %v", got.SpanID(), attempts[1].SpanContext.SpanID())
	}
}

// TestRedactKeysInSpans: with RedactKeys, no span carries the key.
func TestRedactKeysInSpans(t *testing.T) {
	f := newFixture(t, 1)
	f.publish(1, 1)
	tp := oteltest.NewTracerProvider()
	c := f.consumer("redact", newRecorder(nil).handle, WithTracerProvider(tp), RedactKeys())
	wait := runConsumer(t, c)
	waitFor(t, 10*time.Second, "the record", func() bool { return c.Stats().Handled == 1 })
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if len(tp.Spans()) == 0 {
		t.Fatal("no spans")
	}
	for _, s := range tp.Spans() {
		for _, a := range s.Attributes {
			if a.Key == "messaging.kafka.message.key" || strings.Contains(a.Value.String(), "key-000") {
				t.Fatalf("span %s carries the key: %v", s.Name, a)
			}
		}
	}
}

// TestMetrics checks the metric values after a known workload: 20 records,
// one retry, one sequence gap, and no lag once everything is handled.
func TestMetrics(t *testing.T) {
	f := newFixture(t, 2)
	f.publish(4, 5)
	gap := f.record(Step{Key: "key-000", Seq: 9}) // seq 6..8 missing
	if err := f.cl.ProduceSync(context.Background(), gap).FirstErr(); err != nil {
		t.Fatal(err)
	}
	mp := oteltest.NewMeterProvider()
	var failed atomic.Bool
	h := func(ctx context.Context, s Step, m Meta) error {
		if s.Key == "key-001" && s.Seq == 2 && failed.CompareAndSwap(false, true) {
			return errors.New("once")
		}
		return nil
	}
	c := f.consumer("metrics", h, WithMeterProvider(mp), Retry(2, time.Millisecond, time.Millisecond))
	wait := runConsumer(t, c)
	waitFor(t, 10*time.Second, "all records", func() bool { return c.Stats().Handled == 21 })
	waitFor(t, 10*time.Second, "zero lag", func() bool {
		return sumInt(t, mp, "ordo.consumer.lag") == 0 && countPoints(t, mp, "ordo.consumer.lag") > 0
	})
	if _, err := mp.Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := sumInt(t, mp, "messaging.client.consumed.messages"); got != 21 {
		t.Fatalf("consumed messages = %d, want 21", got)
	}
	if got := histCount(t, mp, "messaging.process.duration"); got != 21 {
		t.Fatalf("process duration count = %d, want 21: one per record, as the process span", got)
	}
	if got := sumInt(t, mp, "ordo.retry.attempts"); got != 1 {
		t.Fatalf("retries = %d, want 1", got)
	}
	if got := sumInt(t, mp, "ordo.order.violations"); got != 1 {
		t.Fatalf("order violations = %d, want 1", got)
	}
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
}

// TestStuckPartition: a record whose handler hangs is reported stuck, by
// metric and by a warning that names the partition, offset and key; it
// recovers when the record finishes.
func TestStuckPartition(t *testing.T) {
	f := newFixture(t, 1)
	f.publish(1, 1)
	f.publish(3, 1)
	mp := oteltest.NewMeterProvider()
	var logs syncBuffer
	release := make(chan struct{})
	h := func(ctx context.Context, s Step, m Meta) error {
		if s.Key == "key-000" && s.Seq == 1 {
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return nil
	}
	c := f.consumer("stuck", h, WithMeterProvider(mp), StuckAfter(200*time.Millisecond),
		WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	wait := runConsumer(t, c)
	waitFor(t, 10*time.Second, "a stuck warning", func() bool { return strings.Contains(logs.String(), "partition stuck") })
	line := grepLine(logs.String(), "partition stuck")
	for _, want := range []string{"topic=steps", "partition=0", "offset=0", "key=key-000", "group=stuck"} {
		if !strings.Contains(line, want) {
			t.Fatalf("stuck warning lacks %q: %s", want, line)
		}
	}
	if got := sumInt(t, mp, "ordo.consumer.stuck"); got != 1 {
		t.Fatalf("ordo.consumer.stuck = %d, want 1", got)
	}
	if lag := sumInt(t, mp, "ordo.consumer.lag"); lag != 4 {
		t.Fatalf("lag = %d, want 4 (nothing past offset 0 is committable)", lag)
	}
	close(release)
	waitFor(t, 10*time.Second, "recovery", func() bool { return sumInt(t, mp, "ordo.consumer.stuck") == 0 })
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
}

// TestLogsCarryTraceID: a line logged while a traced record is handled
// carries its trace ID.
func TestLogsCarryTraceID(t *testing.T) {
	f := newFixture(t, 1)
	f.publish(1, 1)
	tp := oteltest.NewTracerProvider()
	var logs syncBuffer
	var traceID atomic.Value
	var failed atomic.Bool
	h := func(ctx context.Context, s Step, m Meta) error {
		traceID.Store(trace.SpanContextFromContext(ctx).TraceID().String())
		if failed.CompareAndSwap(false, true) {
			return errors.New("once")
		}
		return nil
	}
	c := f.consumer("logs", h, WithTracerProvider(tp), Retry(2, time.Millisecond, time.Millisecond),
		WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	wait := runConsumer(t, c)
	waitFor(t, 10*time.Second, "the record", func() bool { return c.Stats().Handled == 1 })
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	line := grepLine(logs.String(), "will retry")
	for _, want := range []string{"trace_id=" + traceID.Load().(string), "topic=steps", "partition=0", "offset=0", "type=ordo.test.Step"} {
		if !strings.Contains(line, want) {
			t.Fatalf("retry log lacks %q: %s", want, line)
		}
	}
}

type carrier struct{ r *kgo.Record }

func (c carrier) Get(k string) string { v, _ := header.Get(c.r.Headers, k); return v }
func (c carrier) Set(k, v string) {
	c.r.Headers = append(c.r.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
}
func (c carrier) Keys() []string { return nil }

func names(spans []oteltest.Span) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}

func checkAttrs(t *testing.T, got []attribute.KeyValue, want map[attribute.Key]string) {
	t.Helper()
	have := make(map[attribute.Key]string)
	for _, a := range got {
		have[a.Key] = a.Value.String()
	}
	for k, v := range want {
		if have[k] != v {
			t.Errorf("attribute %s = %q, want %q (all: %v)", k, have[k], v, have)
		}
	}
}

func grepLine(s, substr string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			return l
		}
	}
	return ""
}

// collect reads the provider's metrics named name, as the SDK's manual
// reader did: the observable instruments' callbacks run now.
func collect(t *testing.T, r *oteltest.MeterProvider, name string) []oteltest.Metric {
	t.Helper()
	ms, err := r.Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []oteltest.Metric
	for _, m := range ms {
		if m.Name == name {
			out = append(out, m)
		}
	}
	return out
}

// sumInt is the sum of the points of an int64 counter or gauge.
func sumInt(t *testing.T, r *oteltest.MeterProvider, name string) int64 {
	t.Helper()
	var n int64
	for _, m := range collect(t, r, name) {
		if m.Float || m.Kind == oteltest.Histogram {
			continue
		}
		for _, p := range m.Points {
			n += p.Int
		}
	}
	return n
}

// countPoints is the number of points of an int64 gauge.
func countPoints(t *testing.T, r *oteltest.MeterProvider, name string) int {
	t.Helper()
	n := 0
	for _, m := range collect(t, r, name) {
		if !m.Float && (m.Kind == oteltest.Gauge || m.Kind == oteltest.ObservableGauge) {
			n += len(m.Points)
		}
	}
	return n
}

// histCount is the count of a float64 histogram over its points.
func histCount(t *testing.T, r *oteltest.MeterProvider, name string) uint64 {
	t.Helper()
	var n uint64
	for _, m := range collect(t, r, name) {
		if m.Float && m.Kind == oteltest.Histogram {
			for _, p := range m.Points {
				n += p.Count
			}
		}
	}
	return n
}

// attrSets returns the attribute sets of every data point of an int64
// sum (a counter of any kind) or a float64 histogram.
func attrSets(t *testing.T, r *oteltest.MeterProvider, name string) []map[string]string {
	t.Helper()
	var out []map[string]string
	for _, m := range collect(t, r, name) {
		intSum := !m.Float && m.Kind != oteltest.Histogram && m.Kind != oteltest.Gauge && m.Kind != oteltest.ObservableGauge
		if !intSum && (!m.Float || m.Kind != oteltest.Histogram) {
			continue
		}
		for _, p := range m.Points {
			set := make(map[string]string)
			for _, kv := range p.Attributes.ToSlice() {
				set[string(kv.Key)] = kv.Value.String()
			}
			out = append(out, set)
		}
	}
	return out
}

// TestMetricLabels: failures are labelled by the shared classifier (the
// stage, or "panic"; never "*errors.joinError" or a consumer type), the
// messaging metrics carry messaging.operation.name, and failed and skipped
// records are counted.
func TestMetricLabels(t *testing.T) {
	f := newFixture(t, 1)
	f.publish(1, 1)                                                       // key-000: panics once
	f.produceRaw("key-001", append(schema.AppendHeader(nil, f.id), 0xff)) // does not decode
	mp := oteltest.NewMeterProvider()
	var panicked atomic.Bool
	h := func(ctx context.Context, s Step, m Meta) error {
		if panicked.CompareAndSwap(false, true) {
			panic("boom")
		}
		return nil
	}
	c := f.consumer("labels", h, WithMeterProvider(mp), OnFailure(Skip), Retry(2, time.Millisecond, time.Millisecond))
	wait := runConsumer(t, c)
	waitFor(t, 10*time.Second, "both records", func() bool { st := c.Stats(); return st.Handled+st.Skipped == 2 })
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	has := func(name, key, want string) {
		t.Helper()
		sets := attrSets(t, mp, name)
		for _, m := range sets {
			if m[key] == want {
				return
			}
		}
		t.Errorf("%s: no point with %s=%q among %v", name, key, want, sets)
	}
	has("ordo.retry.attempts", "error.type", "panic")
	has("ordo.records.failed", "error.type", "decode")
	has("ordo.records.skipped", "error.type", "decode")
	has("messaging.process.duration", "error.type", "decode")
	has("messaging.process.duration", "messaging.operation.name", "process")
	has("messaging.client.consumed.messages", "messaging.operation.name", "poll")
	if got := sumInt(t, mp, "ordo.records.failed"); got != 1 {
		t.Errorf("ordo.records.failed = %d, want 1", got)
	}
	if got := sumInt(t, mp, "ordo.records.skipped"); got != 1 {
		t.Errorf("ordo.records.skipped = %d, want 1", got)
	}
}
