package producer

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordo-go/ordo/internal/header"
	"github.com/ordo-go/ordo/internal/oteltest"
	"github.com/ordo-go/ordo/partition"
)

// TestSendSpans protects the publish trace for every entry point: each
// event gets its own "send orders" span (kind producer, a child of the
// caller's span) with the messaging attributes, and the record written to
// Kafka carries that span in exactly one traceparent header.
func TestSendSpans(t *testing.T) {
	e := startEnv(t, map[string]int32{"orders": 3})
	tp := oteltest.NewTracerProvider()
	p := e.producer(t, WithTracerProvider(tp), WithPropagator(propagation.TraceContext{}))
	ctx, parent := tp.Tracer("test").Start(context.Background(), "caller")
	pub, err := NewPublisher(ctx, p, "orders", codec[Created](t, createdAvsc))
	if err != nil {
		t.Fatal(err)
	}
	var results []Result
	res, err := pub.Publish(ctx, Created{"k-1", 1})
	if err != nil {
		t.Fatal(err)
	}
	results = append(results, res)
	async := make(chan Result, 1)
	if err := pub.PublishAsync(ctx, Created{"k-2", 2}, func(r Result, err error) {
		if err != nil {
			t.Error(err)
		}
		async <- r
	}); err != nil {
		t.Fatal(err)
	}
	results = append(results, <-async)
	all, err := pub.PublishAll(ctx, Created{"k-3", 3}, Created{"k-1", 4})
	if err != nil {
		t.Fatal(err)
	}
	results = append(results, all...)
	parent.End()

	sends := spansByID(tp.Spans(), "send orders")
	if len(sends) != len(results) {
		t.Fatalf("%d send spans, want %d: %v", len(sends), len(results), spanNames(tp.Spans()))
	}
	for _, r := range results {
		s, ok := sends[r.EventID]
		if !ok {
			t.Fatalf("no span for event %s", r.EventID)
		}
		if s.SpanKind != trace.SpanKindProducer || s.Parent.SpanID() != parent.SpanContext().SpanID() ||
			s.SpanContext.TraceID() != parent.SpanContext().TraceID() || s.Status.Code == codes.Error {
			t.Fatalf("span %v: kind %v, parent %v, status %v; want producer, child of %v, ok",
				s.SpanContext.SpanID(), s.SpanKind, s.Parent.SpanID(), s.Status, parent.SpanContext().SpanID())
		}
		checkAttrs(t, s.Attributes, map[attribute.Key]string{
			"messaging.system": "kafka", "messaging.destination.name": "orders",
			"messaging.operation.name": "send", "messaging.operation.type": "send",
			"messaging.destination.partition.id": strconv.Itoa(int(r.Partition)),
			"messaging.kafka.offset":             strconv.FormatInt(r.Offset, 10),
			"messaging.message.id":               r.EventID,
			"ordo.event.type":                    "ordo.test.orders.Created",
		})
	}
	for _, r := range e.readAll(t, "orders", len(results)) {
		id, _ := header.Get(r.Headers, header.ID)
		s := sends[id]
		want := fmt.Sprintf("00-%s-%s-01", s.SpanContext.TraceID(), s.SpanContext.SpanID())
		if n := countHeaders(r, header.TraceParent); n != 1 {
			t.Fatalf("record %s has %d traceparent headers, want 1", id, n)
		}
		if got, _ := header.Get(r.Headers, header.TraceParent); got != want {
			t.Fatalf("record %s traceparent %q, want %q (its send span)", id, got, want)
		}
		checkAttrs(t, s.Attributes, map[attribute.Key]string{"messaging.kafka.message.key": string(r.Key)})
	}
}

// TestSendSpanKey protects the key attribute: on a keyed span by default,
// absent under RedactKeys and for unordered events.
func TestSendSpanKey(t *testing.T) {
	cases := []struct {
		name      string
		redact    bool
		unordered bool
	}{
		{"keyed", false, false},
		{"redacted", true, false},
		{"unordered", false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := startEnv(t, map[string]int32{"orders": 1})
			tp := oteltest.NewTracerProvider()
			opts := []Option{WithTracerProvider(tp)}
			if c.redact {
				opts = append(opts, RedactKeys())
			}
			p := e.producer(t, opts...)
			ctx := context.Background()
			if c.unordered {
				pub, err := NewUnorderedPublisher(ctx, p, "orders", codec[Created](t, createdAvsc))
				if err == nil {
					_, err = pub.Publish(ctx, Created{"secret-key", 1})
				}
				if err != nil {
					t.Fatal(err)
				}
			} else {
				pub, err := NewPublisher(ctx, p, "orders", codec[Created](t, createdAvsc))
				if err == nil {
					_, err = pub.Publish(ctx, Created{"secret-key", 1})
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			spans := tp.Spans()
			if len(spans) != 1 {
				t.Fatalf("spans: %v", spanNames(spans))
			}
			got, has := attr(spans[0].Attributes, "messaging.kafka.message.key")
			if want := !c.redact && !c.unordered; has != want || (has && got != "secret-key") {
				t.Fatalf("key attribute %q (present %v), want present %v", got, has, want)
			}
		})
	}
}

// TestSendSpanError protects failed publishes: the span ends with status
// Error, the error recorded and error.type set, both for an event the
// broker side refused (partition count changed, in kgo's promise) and one
// refused before it was sent (closed producer).
func TestSendSpanError(t *testing.T) {
	e := startEnv(t, map[string]int32{"orders": 3})
	tp := oteltest.NewTracerProvider()
	p := e.producer(t, WithTracerProvider(tp),
		KgoOpts(kgo.MetadataMinAge(10*time.Millisecond), kgo.MetadataMaxAge(50*time.Millisecond)))
	ctx := context.Background()
	pub, err := NewPublisher(ctx, p, "orders", codec[Created](t, createdAvsc))
	if err != nil {
		t.Fatal(err)
	}
	key := movedKey(t, 3, 6)
	if _, err := pub.Publish(ctx, Created{key, 1}); err != nil {
		t.Fatal(err)
	}
	e.addPartitions(t, "orders", 3)
	if _, err := publishUntilChanged(ctx, t, pub, key, 3); !errors.Is(err, partition.ErrCountChanged) {
		t.Fatalf("got %v, want ErrCountChanged", err)
	}
	p.Close()
	if _, err := pub.Publish(ctx, Created{key, 9}); !errors.Is(err, ErrClosed) {
		t.Fatalf("got %v, want ErrClosed", err)
	}
	spans := tp.Spans()
	for _, want := range []string{"partition_count_changed", "closed"} {
		t.Run(want, func(t *testing.T) {
			var s *oteltest.Span
			for i := range spans {
				if v, _ := attr(spans[i].Attributes, "error.type"); v == want {
					s = &spans[i]
				}
			}
			if s == nil {
				t.Fatalf("no span with error.type %s among %d", want, len(spans))
			}
			if s.Status.Code != codes.Error || len(s.Events) == 0 || s.Events[0].Name != "exception" {
				t.Fatalf("status %v, events %v; want Error and an exception event", s.Status, s.Events)
			}
			if _, has := attr(s.Attributes, "messaging.destination.partition.id"); has {
				t.Fatal("failed span names a partition")
			}
			if v, _ := attr(s.Attributes, "messaging.kafka.message.key"); v != key {
				t.Fatalf("key attribute %q, want %q", v, key)
			}
		})
	}
}

// TestMetrics protects the metric values after a known workload on one
// topic: the events acknowledged, one refused in the promise (counted as
// sent, with error.type) and one refused before sending (closed: not a
// sent message, but an operation with error.type).
func TestMetrics(t *testing.T) {
	e := startEnv(t, map[string]int32{"orders": 3})
	mp := oteltest.NewMeterProvider()
	p := e.producer(t, WithMeterProvider(mp),
		KgoOpts(kgo.MetadataMinAge(10*time.Millisecond), kgo.MetadataMaxAge(50*time.Millisecond)))
	ctx := context.Background()
	pub, err := NewPublisher(ctx, p, "orders", codec[Created](t, createdAvsc))
	if err != nil {
		t.Fatal(err)
	}
	key := movedKey(t, 3, 6)
	good := 0
	for i := range 10 {
		if _, err := pub.Publish(ctx, Created{key, int64(i)}); err != nil {
			t.Fatal(err)
		}
		good++
	}
	e.addPartitions(t, "orders", 3)
	for {
		_, err := pub.Publish(ctx, Created{key, 99})
		if errors.Is(err, partition.ErrCountChanged) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		good++ // published before the producer saw the new count
		time.Sleep(20 * time.Millisecond)
	}
	p.Close()
	if _, err := pub.Publish(ctx, Created{key, 100}); !errors.Is(err, ErrClosed) {
		t.Fatalf("got %v, want ErrClosed", err)
	}

	base := "messaging.destination.name=orders,messaging.operation.name=send,messaging.operation.type=send,messaging.system=kafka"
	sent := points(t, mp, "messaging.client.sent.messages")
	wantSent := map[string]int64{base: int64(good), "error.type=partition_count_changed," + base: 1}
	if !maps.Equal(sent, wantSent) {
		t.Fatalf("sent messages %v, want %v", sent, wantSent)
	}
	dur := points(t, mp, "messaging.client.operation.duration")
	wantDur := map[string]int64{
		base: int64(good), "error.type=partition_count_changed," + base: 1, "error.type=closed," + base: 1,
	}
	if !maps.Equal(dur, wantDur) {
		t.Fatalf("operation duration counts %v, want %v", dur, wantDur)
	}
}

// TestWarnLogCarriesTrace protects trace-stamped logs: the warning about a
// partition-count change, logged while a traced publish is partitioned,
// carries that publish's trace and send span, the topic and event type,
// and the key unless redacted.
func TestWarnLogCarriesTrace(t *testing.T) {
	for _, redact := range []bool{false, true} {
		t.Run(fmt.Sprint("redact=", redact), func(t *testing.T) {
			e := startEnv(t, map[string]int32{"orders": 3})
			tp := oteltest.NewTracerProvider()
			var logs syncBuffer
			opts := []Option{
				WithTracerProvider(tp), OnPartitionCountChange(Warn), WithLogger(testLogger(&logs)),
				KgoOpts(kgo.MetadataMinAge(10*time.Millisecond), kgo.MetadataMaxAge(50*time.Millisecond)),
			}
			if redact {
				opts = append(opts, RedactKeys())
			}
			p := e.producer(t, opts...)
			ctx, parent := tp.Tracer("test").Start(context.Background(), "caller")
			defer parent.End()
			pub, err := NewPublisher(ctx, p, "orders", codec[Created](t, createdAvsc))
			if err != nil {
				t.Fatal(err)
			}
			key := movedKey(t, 3, 6)
			if _, err := pub.Publish(ctx, Created{key, 1}); err != nil {
				t.Fatal(err)
			}
			e.addPartitions(t, "orders", 3)
			if _, err := publishUntilChanged(ctx, t, pub, key, 3); err != nil {
				t.Fatal(err)
			}
			line := grepLine(logs.String(), "partition count changed")
			wantKey := "key=" + key
			if redact {
				wantKey = "key=[redacted]"
			}
			for _, want := range []string{"trace_id=" + parent.SpanContext().TraceID().String(),
				"topic=orders", "type=ordo.test.orders.Created", wantKey} {
				if !strings.Contains(line, want) {
					t.Fatalf("warning lacks %q: %s", want, line)
				}
			}
			spanID := line[strings.Index(line, "span_id=")+len("span_id="):]
			spanID, _, _ = strings.Cut(spanID, " ")
			found := false
			for _, s := range tp.Spans() {
				found = found || (s.Name == "send orders" && s.SpanContext.SpanID().String() == spanID)
			}
			if !found {
				t.Fatalf("span_id %q is not a send span: %s", spanID, line)
			}
		})
	}
}

// TestNilTelemetryOptions protects New's validation of injected providers.
func TestNilTelemetryOptions(t *testing.T) {
	e := startEnv(t, map[string]int32{"orders": 1})
	for _, o := range []Option{WithTracerProvider(nil), WithMeterProvider(nil), WithPropagator(nil)} {
		_, err := New(Brokers(e.c.Brokers()...), Registry(e.reg), o)
		if !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("got %v, want ErrInvalidConfig", err)
		}
	}
}

// spansByID indexes the spans named name by their messaging.message.id.
func spansByID(spans []oteltest.Span, name string) map[string]oteltest.Span {
	out := make(map[string]oteltest.Span)
	for _, s := range spans {
		if s.Name == name {
			id, _ := attr(s.Attributes, "messaging.message.id")
			out[id] = s
		}
	}
	return out
}

func spanNames(spans []oteltest.Span) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}

func attr(attrs []attribute.KeyValue, key attribute.Key) (string, bool) {
	for _, a := range attrs {
		if a.Key == key {
			return a.Value.String(), true
		}
	}
	return "", false
}

func checkAttrs(t *testing.T, got []attribute.KeyValue, want map[attribute.Key]string) {
	t.Helper()
	for k, v := range want {
		if have, _ := attr(got, k); have != v {
			t.Errorf("attribute %s = %q, want %q (all: %v)", k, have, v, got)
		}
	}
}

func countHeaders(r *kgo.Record, key string) int {
	n := 0
	for _, h := range r.Headers {
		if h.Key == key {
			n++
		}
	}
	return n
}

func grepLine(s, substr string) string {
	for l := range strings.Lines(s) {
		if strings.Contains(l, substr) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

// points collects metric name and returns, per attribute set (encoded as
// sorted key=value pairs), an int64 counter's value or a float64
// histogram's count.
func points(t *testing.T, mp *oteltest.MeterProvider, name string) map[string]int64 {
	t.Helper()
	ms, err := mp.Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]int64)
	for _, m := range ms {
		if m.Name != name {
			continue
		}
		for _, p := range m.Points {
			switch k := p.Attributes.Encoded(attribute.DefaultEncoder()); {
			case !m.Float && m.Kind == oteltest.Counter:
				out[k] += p.Int
			case m.Float && m.Kind == oteltest.Histogram:
				out[k] += int64(p.Count)
			default:
				t.Fatalf("%s: unexpected %v (float %v)", name, m.Kind, m.Float)
			}
		}
	}
	return out
}

// TestGlobalProviderInstalledLater protects the dormant tracer: with the
// default global providers a publish passes the caller's trace context on
// unchanged (as OpenTelemetry's no-op span would), and once a program
// installs an SDK with otel.SetTracerProvider, even after New, every
// publish gets its send span. The OpenTelemetry globals can be set once
// per process, so the test runs itself in a child process.
func TestGlobalProviderInstalledLater(t *testing.T) {
	if os.Getenv("ORDO_TEST_GLOBAL_OTEL") != "1" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestGlobalProviderInstalledLater$", "-test.count=1")
		cmd.Env = append(os.Environ(), "ORDO_TEST_GLOBAL_OTEL=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		return
	}
	e := startEnv(t, map[string]int32{"orders": 1})
	p := e.producer(t)
	ctx := context.Background()
	pub, err := NewPublisher(ctx, p, "orders", codec[Created](t, createdAvsc))
	if err != nil {
		t.Fatal(err)
	}
	otel.SetTextMapPropagator(propagation.TraceContext{})
	remote := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, TraceFlags: trace.FlagsSampled, Remote: true,
	})
	if _, err := pub.Publish(trace.ContextWithRemoteSpanContext(ctx, remote), Created{"k", 1}); err != nil {
		t.Fatal(err)
	}

	tp := oteltest.NewTracerProvider()
	otel.SetTracerProvider(tp)
	if _, err := pub.Publish(ctx, Created{"k", 2}); err != nil {
		t.Fatal(err)
	}
	spans := tp.Spans()
	if len(spans) != 1 || spans[0].Name != "send orders" {
		t.Fatalf("spans after SetTracerProvider: %v, want one send span", spanNames(spans))
	}
	sc := spans[0].SpanContext
	recs := e.readAll(t, "orders", 2)
	for i, want := range []string{
		fmt.Sprintf("00-%s-%s-01", remote.TraceID(), remote.SpanID()),
		fmt.Sprintf("00-%s-%s-01", sc.TraceID(), sc.SpanID()),
	} {
		if got, _ := header.Get(recs[i].Headers, header.TraceParent); got != want {
			t.Fatalf("record %d traceparent %q, want %q", i, got, want)
		}
	}
}

// TestErrorType protects the error.type labels of the producer's failures:
// the shared classifier with the producer's classes, never a Go type name
// for a state the producer knows.
func TestErrorType(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("x: %w", ErrClosed), "closed"},
		{ErrBufferFull, "buffer_full"},
		{&timeoutError{kgo.ErrRecordTimeout}, "delivery_timeout"},
		{&timeoutError{fmt.Errorf("%w, last err: %w", kgo.ErrRecordTimeout, kerr.UnknownTopicOrPartition)}, "delivery_timeout"},
		{&partition.CountChangedError{Topic: "t", Was: 3, Now: 6}, "partition_count_changed"},
		{errNotMade, "invalid_config"},
		{errors.Join(ErrClosed, errors.New("other")), "closed"},
		{context.DeadlineExceeded, "timeout"},
		{kerr.NotLeaderForPartition, "NOT_LEADER_FOR_PARTITION"},
	}
	for _, tt := range tests {
		if got := errorType(tt.err).Value.AsString(); got != tt.want {
			t.Errorf("errorType(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}
