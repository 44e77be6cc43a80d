// Package telemetry holds what ordo's producer and consumer share to report
// through OpenTelemetry and log/slog: the providers (injected or global),
// the record-header carrier for W3C trace context, span and metric
// attribute helpers that follow the messaging semantic conventions, and a
// slog handler that stamps every log line with the trace it belongs to.
//
// The SDK depends on the OpenTelemetry API only; until a user installs an
// SDK, the global providers are no-ops and cost next to nothing.
package telemetry

import (
	"context"
	"errors"
	"log/slog"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of ordo's tracers and meters.
const ScopeName = "github.com/ordo-go/ordo"

// Config says where telemetry goes. Zero fields mean the OpenTelemetry
// globals, read when Resolve is called.
type Config struct {
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	Propagator     propagation.TextMapPropagator
	RedactKeys     bool // leave record keys out of spans and logs
}

// SetTracerProvider, SetMeterProvider and SetPropagator are the one
// validation of the roles' WithTracerProvider, WithMeterProvider and
// WithPropagator: a nil value is refused with the same text in every role.
func (c *Config) SetTracerProvider(tp trace.TracerProvider) error {
	if tp == nil {
		return errors.New("WithTracerProvider: nil provider")
	}
	c.TracerProvider = tp
	return nil
}

// SetMeterProvider: see [Config.SetTracerProvider].
func (c *Config) SetMeterProvider(mp metric.MeterProvider) error {
	if mp == nil {
		return errors.New("WithMeterProvider: nil provider")
	}
	c.MeterProvider = mp
	return nil
}

// SetPropagator: see [Config.SetTracerProvider].
func (c *Config) SetPropagator(p propagation.TextMapPropagator) error {
	if p == nil {
		return errors.New("WithPropagator: nil propagator")
	}
	c.Propagator = p
	return nil
}

// Resolve fills unset providers from the OpenTelemetry globals.
func (c Config) Resolve() Config {
	if c.TracerProvider == nil {
		c.TracerProvider = otel.GetTracerProvider()
	}
	if c.MeterProvider == nil {
		c.MeterProvider = otel.GetMeterProvider()
	}
	if c.Propagator == nil {
		c.Propagator = otel.GetTextMapPropagator()
	}
	return c
}

// Tracer returns ordo's tracer from the configured provider.
func (c Config) Tracer() trace.Tracer { return c.TracerProvider.Tracer(ScopeName) }

// Meter returns ordo's meter from the configured provider.
func (c Config) Meter() metric.Meter { return c.MeterProvider.Meter(ScopeName) }

// Carrier adapts a record's headers to a propagation.TextMapCarrier.
// Set replaces a header of the same name, so re-injecting (a dead-letter
// publish, a retry) never grows the headers.
type Carrier struct{ R *kgo.Record }

// Get returns the value of the last header named key.
func (c Carrier) Get(key string) string {
	h := c.R.Headers
	for i := len(h) - 1; i >= 0; i-- {
		if h[i].Key == key {
			return string(h[i].Value)
		}
	}
	return ""
}

// Set sets header key to value, replacing any header of that name.
func (c Carrier) Set(key, value string) {
	for i := range c.R.Headers {
		if c.R.Headers[i].Key == key {
			c.R.Headers[i].Value = []byte(value)
			return
		}
	}
	c.R.Headers = append(c.R.Headers, kgo.RecordHeader{Key: key, Value: []byte(value)})
}

// Keys lists the header names.
func (c Carrier) Keys() []string {
	keys := make([]string, len(c.R.Headers))
	for i, h := range c.R.Headers {
		keys[i] = h.Key
	}
	return keys
}

var _ propagation.TextMapCarrier = Carrier{}

// Base returns the attributes every ordo span and metric carries for a
// Kafka destination.
func Base(topic string) []attribute.KeyValue {
	return []attribute.KeyValue{semconv.MessagingSystemKafka, semconv.MessagingDestinationName(topic)}
}

// RecordAttrs returns the span attributes describing one record: its
// partition, offset (if known, >= 0), key (unless redacted), event ID and
// event type; the key, ID and type through Clip (a record brings them, and
// a record may bring megabytes).
func (c Config) RecordAttrs(r *kgo.Record, eventID, eventType string) []attribute.KeyValue {
	attrs := []attribute.KeyValue{
		semconv.MessagingDestinationPartitionID(strconv.Itoa(int(r.Partition))),
		attribute.String("ordo.event.type", Clip(eventType)),
	}
	if r.Offset >= 0 {
		attrs = append(attrs, semconv.MessagingKafkaOffset(int(r.Offset)))
	}
	if eventID != "" {
		attrs = append(attrs, semconv.MessagingMessageID(Clip(eventID)))
	}
	if r.Key != nil && !c.RedactKeys {
		attrs = append(attrs, semconv.MessagingKafkaMessageKey(KeyText(r.Key, false)))
	}
	return attrs
}

// LogKey returns the slog attribute for a record key, through KeyText:
// at most MaxText bytes of it, or a redacted marker.
func (c Config) LogKey(key []byte) slog.Attr {
	return slog.String("key", KeyText(key, c.RedactKeys))
}

// Logger wraps l's handler so that every record logged with a context that
// carries a span gets trace_id and span_id attributes.
func Logger(l *slog.Logger) *slog.Logger {
	if _, ok := l.Handler().(traceHandler); ok {
		return l
	}
	return slog.New(traceHandler{l.Handler()})
}

type traceHandler struct{ slog.Handler }

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return traceHandler{h.Handler.WithAttrs(attrs)}
}

func (h traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{h.Handler.WithGroup(name)}
}
