package consumer

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/messagingconv"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordo-go/ordo/internal/header"
	"github.com/ordo-go/ordo/internal/telemetry"
)

// instruments are the consumer's metrics. Lag and stuck partitions are
// observed from the consumer's own positions and the high watermarks of its
// fetches, without an admin round trip.
type instruments struct {
	consumed     messagingconv.ClientConsumedMessages
	process      messagingconv.ProcessDuration
	retries      metric.Int64Counter
	failed       metric.Int64Counter
	handedOver   metric.Int64Counter
	countChanges metric.Int64Counter
	placement    metric.Int64Counter
	skipped      metric.Int64Counter
	violations   metric.Int64Counter
	lag          metric.Int64ObservableGauge
	lagTime      metric.Float64ObservableGauge
	stuck        metric.Int64ObservableGauge
	deadLettered metric.Int64Counter
	qFull        metric.Int64Counter
	parked       metric.Int64ObservableGauge
	quarantined  metric.Int64ObservableGauge
	reg          metric.Registration
}

// The observer: the consumer's spans and metrics.
//
// It owns the tracer and the per-topic span names, the propagation, the
// instruments and the registration of the observed gauges. Its state is
// set by init and immutable after, save spanNames (a sync.Map). observe,
// called by the meter provider's reader on its own goroutine, reads the
// partitions under the scheduler's lock (grabbed once per collection).
// It runs no goroutine.
type observer struct {
	tel            telemetry.Config
	group          string
	sched          *scheduler
	tracer         trace.Tracer
	ins            instruments
	spanNames      sync.Map // topic -> "process <topic>"
	recordSpanOpts []trace.SpanStartOption
	traceIdle      *telemetry.Idle
	prop           *telemetry.Propagation
}

// init makes the instruments from tel for group's consumer, whose
// partitions sched holds.
func (o *observer) init(tel telemetry.Config, group string, sched *scheduler) error {
	o.tel, o.group, o.sched = tel, group, sched
	o.recordSpanOpts = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer)}
	o.tracer = tel.Tracer()
	o.traceIdle = telemetry.NewIdle(tel.TracerProvider)
	o.prop = telemetry.NewPropagation(tel.Propagator)
	m := tel.Meter()
	ins := &o.ins
	var err error
	if ins.consumed, err = messagingconv.NewClientConsumedMessages(m); err != nil {
		return err
	}
	if ins.process, err = messagingconv.NewProcessDuration(m); err != nil {
		return err
	}
	if ins.retries, err = m.Int64Counter("ordo.retry.attempts", metric.WithUnit("{attempt}"),
		metric.WithDescription("Handler attempts that failed and were scheduled again.")); err != nil {
		return err
	}
	if ins.failed, err = m.Int64Counter("ordo.records.failed", metric.WithUnit("{record}"),
		metric.WithDescription("Records that could not be handled, before the failure policy applied.")); err != nil {
		return err
	}
	if ins.skipped, err = m.Int64Counter("ordo.records.skipped", metric.WithUnit("{record}"),
		metric.WithDescription("Failed records passed over under the Skip policy.")); err != nil {
		return err
	}
	if ins.handedOver, err = m.Int64Counter("ordo.consumer.handover.running", metric.WithUnit("{record}"),
		metric.WithDescription("Handlers still running when their partition was handed over to another member.")); err != nil {
		return err
	}
	if ins.countChanges, err = m.Int64Counter("ordo.partition.count.changes", metric.WithUnit("{change}"),
		metric.WithDescription("Partition counts stamped on consumed records that differ from the ones seen before for the topic.")); err != nil {
		return err
	}
	if ins.placement, err = m.Int64Counter("ordo.placement.violations", metric.WithUnit("{record}"),
		metric.WithDescription("Stamped records whose key does not hash to their partition under the stamped count.")); err != nil {
		return err
	}
	if ins.violations, err = m.Int64Counter("ordo.order.violations", metric.WithUnit("{record}"),
		metric.WithDescription("Per-key sequence gaps and regressions seen in consumed records.")); err != nil {
		return err
	}
	if ins.lag, err = m.Int64ObservableGauge("ordo.consumer.lag", metric.WithUnit("{record}"),
		metric.WithDescription("Records between the partition's high watermark and the lowest record not yet finished.")); err != nil {
		return err
	}
	if ins.lagTime, err = m.Float64ObservableGauge("ordo.consumer.lag.time", metric.WithUnit("s"),
		metric.WithDescription("Age of the oldest fetched record not yet finished.")); err != nil {
		return err
	}
	if ins.stuck, err = m.Int64ObservableGauge("ordo.consumer.stuck", metric.WithUnit("{partition}"),
		metric.WithDescription("1 for a partition with lag whose commit point has not moved for the stuck threshold.")); err != nil {
		return err
	}
	if ins.deadLettered, err = m.Int64Counter("ordo.deadletter.records", metric.WithUnit("{record}"),
		metric.WithDescription("Records written to the dead-letter topic, by ordo.reason and ordo.stage.")); err != nil {
		return err
	}
	if ins.qFull, err = m.Int64Counter("ordo.keys.quarantine.full", metric.WithUnit("{key}"),
		metric.WithDescription("Dead letters whose key found its partition's quarantine at QuarantineMaxKeys: the consumer halted, the key's order kept.")); err != nil {
		return err
	}
	if ins.parked, err = m.Int64ObservableGauge("ordo.keys.parked", metric.WithUnit("{key}"),
		metric.WithDescription("Keys whose head record waits to be tried again (a retry, a registry outage, a dead-letter write).")); err != nil {
		return err
	}
	if ins.quarantined, err = m.Int64ObservableGauge("ordo.keys.quarantined", metric.WithUnit("{key}"),
		metric.WithDescription("Keys of the partition quarantined behind a dead-lettered record.")); err != nil {
		return err
	}
	ins.reg, err = m.RegisterCallback(o.observe, ins.lag, ins.lagTime, ins.stuck, ins.parked, ins.quarantined)
	return err
}

// observe reports lag, lag by time and stuck partitions.
func (ob *observer) observe(_ context.Context, o metric.Observer) error {
	now := time.Now()
	ob.sched.mu.Lock()
	defer ob.sched.mu.Unlock()
	for _, ps := range ob.sched.parts {
		set := metric.WithAttributeSet(ps.met.attrs)
		o.ObserveInt64(ob.ins.parked, int64(ps.parked), set)
		if ps.q != nil {
			o.ObserveInt64(ob.ins.quarantined, int64(ps.q.Len()), set)
		}
		lag, ok := ps.lag()
		if !ok {
			continue
		}
		o.ObserveInt64(ob.ins.lag, lag, set)
		if ts, ok := ps.oldestPending(); ok {
			o.ObserveFloat64(ob.ins.lagTime, now.Sub(ts).Seconds(), set)
		} else {
			o.ObserveFloat64(ob.ins.lagTime, 0, set)
		}
		stuck := int64(0)
		if ps.stuck.stuckSince != (time.Time{}) {
			stuck = 1
		}
		o.ObserveInt64(ob.ins.stuck, stuck, set)
	}
	return nil
}

func (o *observer) partAttrs(k tp) attribute.Set {
	return attribute.NewSet(append(telemetry.Base(k.topic),
		semconv.MessagingDestinationPartitionID(strconv.Itoa(int(k.partition))),
		semconv.MessagingConsumerGroupName(o.group),
	)...)
}

// startRecord opens the span that follows a record from its first attempt
// to its outcome. It is a child of the producer's span, carried in the
// record's headers: the conventions allow a process span to be the child of
// the creation context when one message is processed, and it keeps publish,
// every attempt and the outcome in one trace. A link to the same context is
// added too, for backends that draw the producer-consumer hop from links.
func (o *observer) startRecord(ctx context.Context, it *item) trace.Span {
	r := it.rec
	pctx := o.prop.Extract(ctx, r)
	psc := trace.SpanContextFromContext(pctx)
	if !psc.IsValid() && o.traceIdle.Now() { // no SDK yet, and no trace to continue
		return noSpan
	}
	opts := o.recordSpanOpts
	if psc.IsValid() {
		opts = append(opts[:len(opts):len(opts)], trace.WithLinks(trace.Link{SpanContext: psc}))
	}
	_, span := o.tracer.Start(pctx, o.spanName(r.Topic), opts...)
	if span.IsRecording() { // attributes cost allocations: only for spans that keep them
		typ, _ := header.Get(r.Headers, header.Type)
		id, _ := header.Get(r.Headers, header.ID)
		span.SetAttributes(telemetry.Base(r.Topic)...)
		span.SetAttributes(o.tel.RecordAttrs(r, id, typ)...)
		span.SetAttributes(semconv.MessagingOperationName("process"), semconv.MessagingOperationTypeProcess,
			semconv.MessagingConsumerGroupName(o.group))
	}
	return span
}

// noSpan stands in for a record's span while tracing is idle.
var noSpan = trace.SpanFromContext(context.Background())

// spanName is "process <topic>", built once per topic.
func (o *observer) spanName(topic string) string {
	if n, ok := o.spanNames.Load(topic); ok {
		return n.(string)
	}
	n, _ := o.spanNames.LoadOrStore(topic, "process "+topic)
	return n.(string)
}

// endRecord closes a record's span with its outcome.
func endRecord(span trace.Span, outcome string, err error) {
	if span == nil {
		return
	}
	if !span.IsRecording() {
		span.End()
		return
	}
	span.SetAttributes(attribute.String("ordo.outcome", outcome))
	if err != nil {
		recordError(span, err)
	}
	span.End()
}

// recordError marks span failed with err; the exception event names
// what really failed (see failureCause).
func recordError(span trace.Span, err error) {
	span.SetAttributes(telemetry.ErrorType(err))
	telemetry.Fail(span, err, failureCause(err))
}

// failureCause peels ordo's envelopes off err: a *RecordError carries the
// record's coordinates around what failed, a *PermanentError a mark. What
// is left (the handler's own error, a *schema.DecodeError, ...) is what a
// person or a Spring tool should see named first: in a span's exception
// event and a dead letter's kafka_dlt-exception-fqcn.
func failureCause(err error) error {
	for {
		switch e := err.(type) {
		case *RecordError:
			if e.Err == nil {
				return err
			}
			err = e.Err
		case *PermanentError:
			err = e.Err
		default:
			if pe, ok := errors.AsType[*PermanentError](err); ok && pe.Err != nil {
				return failureCause(pe.Err) // Permanent wrapped by the handler's own fmt.Errorf
			}
			return err
		}
	}
}

// startAttempt opens the span of one handler attempt under the record's
// span, on the handler's context: the user's own spans nest under it. It
// returns a nil span when the record's span is not recorded (not sampled,
// or tracing idle): the handler's context then carries the record's span
// context, so the trace still propagates, and the attempt costs no span.
// (Under a parent-based sampler, the default, an attempt of an unsampled
// record would not be sampled anyway.)
func (o *observer) startAttempt(ctx context.Context, it *item, b binding) (context.Context, trace.Span) {
	if !it.trace.span.IsRecording() {
		if it.trace.span.SpanContext().IsValid() {
			ctx = trace.ContextWithSpan(ctx, it.trace.span)
		}
		return ctx, nil
	}
	ctx = trace.ContextWithSpan(ctx, it.trace.span)
	ctx, span := o.tracer.Start(ctx, b.spanName)
	if span.IsRecording() {
		span.SetAttributes(attribute.Int("ordo.attempt", it.try.attempts), attribute.String("ordo.event.type", b.name))
	}
	return ctx, span
}

// endAttempt closes an attempt's span, if it has one.
func endAttempt(span trace.Span, decErr, hErr error) {
	if span == nil {
		return
	}
	// One exception event per error, each of its own type (an
	// errors.Join of the two read as *errors.joinError).
	for _, err := range [...]error{decErr, hErr} {
		if err != nil {
			recordError(span, err)
		}
	}
	span.End()
}

// recordDuration records a finished record's messaging.process.duration:
// from the first time a lane took it to its outcome, every attempt and
// backoff included, as its "process" span. err is why it failed, if it did.
func (o *observer) recordDuration(ctx context.Context, ps *partState, it *item, err error, end time.Time) {
	d := end.Sub(it.trace.start).Seconds()
	if err != nil {
		o.ins.process.Inst().Record(ctx, d, ps.met.record[0], metric.WithAttributes(telemetry.ErrorType(err)))
		return
	}
	o.ins.process.Inst().Record(ctx, d, ps.met.record...)
}

// opAttrs is base with the messaging operation's name and type.
func (o *observer) opAttrs(base attribute.Set, name string, typ attribute.KeyValue) attribute.Set {
	return attribute.NewSet(append(base.ToSlice(), semconv.MessagingOperationName(name), typ)...)
}

// logKey is a record key as a log attribute: redacted under RedactKeys,
// cut to telemetry.MaxText bytes (telemetry.KeyText).
func (o *observer) logKey(key []byte) slog.Attr { return o.tel.LogKey(key) }

// A line logged once per record (a retry scheduled, a record
// dead-lettered) is limited per condition (its error class or reason):
// logLimitBurst lines every logLimitEvery, then the lines dropped are
// counted in the next one's more_like_it. An outage or a catch-up with
// expiry repeats such a line for every record (one catch-up wrote 58,625
// "record dead-lettered" lines); the metrics count every occurrence.
const (
	logLimitEvery = 10 * time.Second
	logLimitBurst = 10
)
