package producer

import (
	"crypto/tls"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordo-go/ordo/schema"
)

// The options below are the settings every role takes (the producer, the
// consumer, consumer/dlq's Client): one name, one doc opening, one
// validation, all in internal/client. A comment's first paragraph is
// internal/client's Docs text, word for word (TestSharedOptions).

// Brokers sets the seed brokers ("host:port", a host and a port from 1
// to 65535). Required: there is no default. Given more than once, the
// brokers add up. The slice is copied.
func Brokers(addrs ...string) Option {
	addrs = append([]string(nil), addrs...)
	return optionFunc(func(c *config) { c.set.Brokers(addrs) })
}

// TLS dials the brokers over TLS with a clone of cfg. The default is
// plaintext; cfg must not be nil.
func TLS(cfg *tls.Config) Option { return optionFunc(func(c *config) { c.set.TLS(cfg) }) }

// SASL authenticates to the brokers with m (for example
// plain.Auth{...}.AsMechanism() or scram.Auth{...}.AsSha512Mechanism() from
// franz-go's pkg/sasl). Given more than once, the mechanisms are tried in
// order, as kgo.SASL does. The default is no authentication; m must not be
// nil.
func SASL(m sasl.Mechanism) Option { return optionFunc(func(c *config) { c.set.SASL(m) }) }

// Registry sets the schema registry. The caller owns it: closing the
// producer, consumer or client does not close it, and it may be shared
// with other producers, consumers and clients. r must not be nil.
//
// Required for the producer: event schemas are registered in it, or
// looked up (see [NewPublisher] and [Registration]).
func Registry(r *schema.Registry) Option { return optionFunc(func(c *config) { c.set.SetRegistry(r) }) }

// WithLogger sets the logger for ordo's own lines and for franz-go's, at
// [KgoLogLevel] and above (they carry source=kgo; the password of a URL is
// redacted in every line). Errors returned to the caller are not logged
// again. The default is slog.Default() at the time New is called; l must
// not be nil.
//
// The producer's own lines: a partition-count change under [Warn], a
// broker closing the connection during SASL authentication. A line about
// a record carries its topic, event type and key (see [RedactKeys]), and
// trace_id and span_id when the publish is traced.
func WithLogger(l *slog.Logger) Option { return optionFunc(func(c *config) { c.set.SetLogger(l) }) }

// KgoLogLevel sets the lowest level of franz-go's own log lines passed
// to the logger (see [WithLogger]), for example slog.LevelInfo to see every
// connection and metadata refresh, or slog.LevelError to keep only errors.
// The default is slog.LevelWarn: warnings such as "unable to open
// connection to broker" and errors such as a failed SASL login show up
// within seconds; franz-go's info lines are for its developers.
func KgoLogLevel(l slog.Level) Option { return optionFunc(func(c *config) { c.set.SetKgoLogLevel(l) }) }

// ClientLogLevel is [KgoLogLevel].
//
// Deprecated: use KgoLogLevel, the name every role uses.
func ClientLogLevel(l slog.Level) Option { return KgoLogLevel(l) }

// KgoOpts passes raw franz-go client options through, applied after
// ordo's own. It is an escape hatch: an option can weaken ordo's
// guarantees (kgo.RequiredAcks, kgo.DisableIdempotentWrite) or break the
// client. The default is none; no option may be nil.
//
// For the producer: kgo.RecordPartitioner disables the partition-count
// guard and murmur2 placement. kgo.MaxBufferedRecords has no effect:
// [MaxBufferedRecords] owns it. Do not pass kgo.MaxBufferedBytes: it
// blocks inside the client, where PublishAsync's ctx and Close cannot
// reach the wait; use [MaxBufferedBytes].
func KgoOpts(opts ...kgo.Opt) Option {
	opts = append([]kgo.Opt(nil), opts...)
	return optionFunc(func(c *config) { c.set.KgoOpts(opts) })
}

// The telemetry options the producer and the consumer share (not
// consumer/dlq's Client, which makes no spans or metrics): one doc
// opening (internal/client's Docs), one validation (internal/telemetry).

// WithTracerProvider sets where spans go. The default is the global
// provider, a no-op until an OpenTelemetry SDK is installed; tp must not be
// nil.
//
// The producer makes one span per event published ("send <topic>", kind
// producer, a child of the span in the ctx given to Publish, PublishAsync
// or PublishAll), ended when Kafka acknowledges or fails the event.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return optionFunc(func(c *config) { c.addErr(c.tel.SetTracerProvider(tp)) })
}

// WithMeterProvider sets where metrics go. The default is the global
// provider, a no-op until an OpenTelemetry SDK is installed; mp must not be
// nil.
//
// The producer records messaging.client.sent.messages and
// messaging.client.operation.duration.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *config) { c.addErr(c.tel.SetMeterProvider(mp)) })
}

// WithPropagator sets how trace context is carried in record headers. The
// default is the global propagator (set it to propagation.TraceContext{}
// for W3C traceparent headers); p must not be nil.
//
// The producer writes it into every record it publishes.
func WithPropagator(p propagation.TextMapPropagator) Option {
	return optionFunc(func(c *config) { c.addErr(c.tel.SetPropagator(p)) })
}

// RedactKeys leaves record keys out of spans and logs, for keys that are
// personal data. The default is that keys are included.
func RedactKeys() Option { return optionFunc(func(c *config) { c.tel.RedactKeys = true }) }

// addErr records a problem a shared setting found, if any.
func (c *config) addErr(err error) {
	if err != nil {
		c.fail("%w", err)
	}
}
