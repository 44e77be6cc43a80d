// Package oteltest is an in-memory implementation of the OpenTelemetry
// trace and metric APIs for ordo's own tests.
//
// It exists so that ordo's go.mod need not require the OpenTelemetry SDK:
// Go puts every requirement of a module into the module graph of each
// program that imports it, test-only or not, and a service that uses ordo
// should not carry the SDK and its exporters because ordo's tests once
// needed an in-memory exporter. It depends on the API modules only
// (go.opentelemetry.io/otel, /trace, /metric), which ordo requires anyway.
//
// # Tracing
//
// [TracerProvider] records every span that ends, in the order they end,
// as a [Span] value: name, kind, span context, parent, attributes, links,
// events, status and times. It mirrors the SDK on the points ordo's tests
// rely on: a span's kind defaults to internal, attributes set twice keep
// the last value, RecordError adds an "exception" event, an Ok status
// cannot be replaced by Error, and End ends a span once. Its [Sampler]
// chooses between the SDK's default (parent-based, sampling roots),
// [AlwaysSample] and [NeverSample]. A span that is not sampled does not
// record, yet its span context is valid (new span ID, the parent's trace
// ID), is not flagged sampled, and is what children and propagators see,
// as with the SDK's NeverSample.
//
// # Metrics
//
// [MeterProvider] implements every instrument of the metric API with
// cumulative aggregation: counters and up-down counters sum, histograms
// count and sum (with min and max), gauges keep the last value, per
// instrument and attribute set. Observable instruments are read when
// [MeterProvider.Collect] runs their callbacks, as the SDK's manual reader
// does; each collection reports only the attribute sets observed in it.
// [Metrics], the result of Collect, answers the questions tests ask: a
// total by instrument name, a point by attribute set, a histogram's count.
//
// Nothing here is meant for production: storage grows with every span
// and attribute set, and no limit applies.
package oteltest
