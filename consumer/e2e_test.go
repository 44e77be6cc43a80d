package consumer

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordo-go/ordo/internal/oteltest"
	"github.com/ordo-go/ordo/producer"
)

// keyedStep is Step with a partition key, for ordo's producer.
type keyedStep struct {
	Key string `avro:"key"`
	Seq int64  `avro:"seq"`
}

func (s keyedStep) PartitionKey() string { return s.Key }

// TestTraceAcrossClients follows one event from ordo's producer to the
// consumer's handler through a real (embedded) broker: one trace, in which
// the consumer's process span is the child of the producer's send span,
// which is the child of the caller's span, and the handler's attempt span
// is the child of the process span.
func TestTraceAcrossClients(t *testing.T) {
	f := newFixture(t, 3)
	tp := oteltest.NewTracerProvider()
	prop := propagation.TraceContext{}

	p, err := producer.New(producer.Brokers(f.cluster.Brokers()...), producer.Registry(f.reg),
		producer.WithTracerProvider(tp), producer.WithPropagator(prop))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	codec := f.codecFor()
	pub, err := producer.NewPublisher(ctx, p, f.topic, codec)
	if err != nil {
		t.Fatal(err)
	}
	rctx, root := tp.Tracer("test").Start(ctx, "checkout")
	if _, err := pub.Publish(rctx, keyedStep{Key: "k", Seq: 1}); err != nil {
		t.Fatal(err)
	}
	root.End()
	p.Close()

	c, err := New(Brokers(f.cluster.Brokers()...), Group("e2e"), Topics(f.topic), Registry(f.reg),
		WithTracerProvider(tp), WithPropagator(prop),
		On(codec, func(context.Context, keyedStep, Meta) error { return nil }))
	if err != nil {
		t.Fatal(err)
	}
	wait := runConsumer(t, c)
	waitFor(t, 10*time.Second, "the event", func() bool { return c.Stats().Handled == 1 })
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}

	spans := make(map[string]oteltest.Span)
	for _, s := range tp.Spans() {
		spans[s.Name] = s
	}
	chain := []struct {
		name string
		kind trace.SpanKind
	}{
		{"checkout", trace.SpanKindInternal},
		{"send " + f.topic, trace.SpanKindProducer},
		{"process " + f.topic, trace.SpanKindConsumer},
		{"handle ordo.test.Step", trace.SpanKindInternal},
	}
	for i, link := range chain {
		s, ok := spans[link.name]
		if !ok {
			t.Fatalf("no span %q among %v", link.name, names(tp.Spans()))
		}
		if s.SpanKind != link.kind || s.SpanContext.TraceID() != root.SpanContext().TraceID() {
			t.Fatalf("span %q: kind %v trace %v", link.name, s.SpanKind, s.SpanContext.TraceID())
		}
		if i > 0 && s.Parent.SpanID() != spans[chain[i-1].name].SpanContext.SpanID() {
			t.Fatalf("span %q is not a child of %q", link.name, chain[i-1].name)
		}
	}
}
