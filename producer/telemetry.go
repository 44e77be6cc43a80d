package producer

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/messagingconv"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/ordo-go/ordo/internal/telemetry"
	"github.com/ordo-go/ordo/partition"
)

// instruments are the producer's metrics, from the messaging semantic
// conventions.
type instruments struct {
	sent     messagingconv.ClientSentMessages
	duration messagingconv.ClientOperationDuration
}

func newInstruments(tel telemetry.Config) (instruments, error) {
	m := tel.Meter()
	var ins instruments
	var err error
	if ins.sent, err = messagingconv.NewClientSentMessages(m); err != nil {
		return ins, err
	}
	ins.duration, err = messagingconv.NewClientOperationDuration(m)
	return ins, err
}

// topicTel is what a publisher computes once for its topic and event type,
// so that no span option or metric attribute set is built per record.
type topicTel struct {
	spanName string
	attrs    []attribute.KeyValue // a send span's attributes known at start
	set      attribute.Set        // metric attributes
}

// startOpts are the options every send span starts with. The attributes
// are not among them: passed at start, the SDK copies them into a new
// slice for the sampler even when the span is not sampled, a third of the
// cost of a span that is not sampled. Samplers see the span's name ("send
// <topic>") and kind; the attributes are set once the span records.
var startOpts = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindProducer)}

func newTopicTel(topic, typ string) *topicTel {
	common := append(telemetry.Base(topic),
		semconv.MessagingOperationName("send"), semconv.MessagingOperationTypeSend)
	return &topicTel{
		spanName: "send " + topic,
		attrs:    append(common[:len(common):len(common)], attribute.String("ordo.event.type", typ)),
		set:      attribute.NewSet(common...),
	}
}

// startSpan opens the event's span, a child of ctx, and makes the span's
// context the parent of the record's context.
func (p *Producer) startSpan(ctx context.Context, in *inflight) {
	if p.ins.duration.Enabled(ctx) {
		// The clock costs more than the rest of an idle span: read it only
		// for a histogram that records.
		in.start, in.timed = monoNow(), true
	}
	in.parent, in.span = p.tracer.start(ctx, in.c.tt.spanName)
	if in.span.IsRecording() {
		in.span.SetAttributes(in.c.tt.attrs...)
	}
}

// epoch anchors monoNow.
var epoch = time.Now()

// monoNow reads the monotonic clock as a Duration since epoch: a third
// of the size of a time.Time in every inflight.
func monoNow() time.Duration { return time.Since(epoch) }

// sendTracer starts send spans. While the tracer provider is OpenTelemetry's
// default global one with no SDK behind it (see telemetry.Idle), it starts
// no span at all: the record's context is the caller's, so its trace
// context, if any, is propagated and logged as a no-op span would have
// carried it, and the span is a shared no-op. That saves the three
// allocations per record the default provider's no-op spans cost.
type sendTracer struct {
	t    trace.Tracer
	idle *telemetry.Idle
}

// offSpan is the span of an event while tracing is idle.
var offSpan trace.Span = noop.Span{}

func newSendTracer(tp trace.TracerProvider) *sendTracer {
	return &sendTracer{t: tp.Tracer(telemetry.ScopeName), idle: telemetry.NewIdle(tp)}
}

func (st *sendTracer) start(ctx context.Context, name string) (context.Context, trace.Span) {
	if st.idle.Now() {
		return ctx, offSpan
	}
	return st.t.Start(ctx, name, startOpts...)
}

// finish ends the event's span and records its metrics. id is the event ID
// ("" to compute it if needed), sent says whether the record reached kgo
// (only those count as sent messages), err is the cause of a failure.
// Attributes are built only for a span that records: a span that is not
// sampled costs no allocation here. The duration is recorded if the
// histogram was enabled when the span started (in.timed).
func (p *Producer) finish(in *inflight, id string, sent bool, err error) {
	var d float64
	timed := in.timed
	if timed {
		d = (monoNow() - in.start).Seconds()
	}
	span := in.span
	if err == nil {
		if span.IsRecording() {
			span.SetAttributes(p.tel.RecordAttrs(&in.rec, id, in.c.typ)...)
		}
		span.End()
		p.ins.sent.AddSet(in, 1, in.c.tt.set)
		if timed {
			p.ins.duration.RecordSet(in, d, in.c.tt.set)
		}
		return
	}
	et := errorType(err)
	if span.IsRecording() {
		if id == "" {
			id = in.idText // "" if refused before sealing: no ID yet
		}
		attrs := []attribute.KeyValue{et}
		if id != "" {
			attrs = append(attrs, semconv.MessagingMessageID(id))
		}
		if k := in.key(); k != nil && !p.tel.RedactKeys {
			attrs = append(attrs, semconv.MessagingKafkaMessageKey(telemetry.KeyText(k, false)))
		}
		span.SetAttributes(attrs...)
		var cause error
		var pe *PublishError
		if errors.As(err, &pe) {
			cause = pe.Err
		}
		telemetry.Fail(span, err, cause)
	}
	span.End()
	set, errAttr := metric.WithAttributeSet(in.c.tt.set), metric.WithAttributes(et)
	if sent {
		p.ins.sent.Inst().Add(in, 1, set, errAttr)
	}
	if timed {
		p.ins.duration.Inst().Record(in, d, set, errAttr)
	}
}

// errorType names the class of a publish failure for the error.type
// attribute through the classifier the consumer shares, with the
// producer's own states first.
func errorType(err error) attribute.KeyValue {
	return telemetry.ErrorType(err, errorClasses...)
}

var errorClasses = []telemetry.Class{
	{Err: partition.ErrCountChanged, Name: "partition_count_changed"},
	{Err: ErrInvalidConfig, Name: "invalid_config"},
	{Err: ErrClosed, Name: "closed"},
	{Err: ErrBufferFull, Name: "buffer_full"},
	{Err: ErrDeliveryTimeout, Name: "delivery_timeout"},
}
