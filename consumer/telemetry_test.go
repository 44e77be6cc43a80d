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
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordo-go/ordo/internal/header"
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
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(context.Background())
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

	spans := exp.GetSpans()
	byName := make(map[string][]tracetest.SpanStub)
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
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(context.Background())
	c := f.consumer("redact", newRecorder(nil).handle, WithTracerProvider(tp), RedactKeys())
	wait := runConsumer(t, c)
	waitFor(t, 10*time.Second, "the record", func() bool { return c.Stats().Handled == 1 })
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if len(exp.GetSpans()) == 0 {
		t.Fatal("no spans")
	}
	for _, s := range exp.GetSpans() {
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
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
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
		return sumInt(t, reader, "ordo.consumer.lag") == 0 && countPoints(t, reader, "ordo.consumer.lag") > 0
	})
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	if got := sumInt(t, reader, "messaging.client.consumed.messages"); got != 21 {
		t.Fatalf("consumed messages = %d, want 21", got)
	}
	if got := histCount(t, reader, "messaging.process.duration"); got != 21 {
		t.Fatalf("process duration count = %d, want 21: one per record, as the process span", got)
	}
	if got := sumInt(t, reader, "ordo.retry.attempts"); got != 1 {
		t.Fatalf("retries = %d, want 1", got)
	}
	if got := sumInt(t, reader, "ordo.order.violations"); got != 1 {
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
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
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
	if got := sumInt(t, reader, "ordo.consumer.stuck"); got != 1 {
		t.Fatalf("ordo.consumer.stuck = %d, want 1", got)
	}
	if lag := sumInt(t, reader, "ordo.consumer.lag"); lag != 4 {
		t.Fatalf("lag = %d, want 4 (nothing past offset 0 is committable)", lag)
	}
	close(release)
	waitFor(t, 10*time.Second, "recovery", func() bool { return sumInt(t, reader, "ordo.consumer.stuck") == 0 })
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
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(context.Background())
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

func names(spans tracetest.SpanStubs) []string {
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

func collect(t *testing.T, r sdkmetric.Reader, name string) []metricdata.Aggregation {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var out []metricdata.Aggregation
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				out = append(out, m.Data)
			}
		}
	}
	return out
}

func sumInt(t *testing.T, r sdkmetric.Reader, name string) int64 {
	var n int64
	for _, d := range collect(t, r, name) {
		switch d := d.(type) {
		case metricdata.Sum[int64]:
			for _, p := range d.DataPoints {
				n += p.Value
			}
		case metricdata.Gauge[int64]:
			for _, p := range d.DataPoints {
				n += p.Value
			}
		}
	}
	return n
}

func countPoints(t *testing.T, r sdkmetric.Reader, name string) int {
	n := 0
	for _, d := range collect(t, r, name) {
		if g, ok := d.(metricdata.Gauge[int64]); ok {
			n += len(g.DataPoints)
		}
	}
	return n
}

func histCount(t *testing.T, r sdkmetric.Reader, name string) uint64 {
	var n uint64
	for _, d := range collect(t, r, name) {
		if h, ok := d.(metricdata.Histogram[float64]); ok {
			for _, p := range h.DataPoints {
				n += p.Count
			}
		}
	}
	return n
}

// attrSets returns the attribute sets of every data point of the metric.
func attrSets(t *testing.T, r sdkmetric.Reader, name string) []map[string]string {
	t.Helper()
	var out []map[string]string
	add := func(set attribute.Set) {
		m := make(map[string]string)
		for _, kv := range set.ToSlice() {
			m[string(kv.Key)] = kv.Value.String()
		}
		out = append(out, m)
	}
	for _, d := range collect(t, r, name) {
		switch d := d.(type) {
		case metricdata.Sum[int64]:
			for _, p := range d.DataPoints {
				add(p.Attributes)
			}
		case metricdata.Histogram[float64]:
			for _, p := range d.DataPoints {
				add(p.Attributes)
			}
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
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
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
		sets := attrSets(t, reader, name)
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
	if got := sumInt(t, reader, "ordo.records.failed"); got != 1 {
		t.Errorf("ordo.records.failed = %d, want 1", got)
	}
	if got := sumInt(t, reader, "ordo.records.skipped"); got != 1 {
		t.Errorf("ordo.records.skipped = %d, want 1", got)
	}
}
