package client

// Names are the options every role exports for the [Settings], under
// these names and no other: producer, consumer and consumer/dlq each have
// a func of each name. TestSharedOptions holds the roles to it.
var Names = []string{"Brokers", "TLS", "SASL", "Registry", "WithLogger", "KgoLogLevel", "KgoOpts"}

// TelemetryNames are the options the producer and the consumer export for
// their telemetry (internal/telemetry.Config); consumer/dlq's Client has
// none. Their doc openings are in [Docs] too.
var TelemetryNames = []string{"WithTracerProvider", "WithMeterProvider", "WithPropagator", "RedactKeys"}

// Docs is the doc comment every role's option opens with, word for word
// (the roles may add a paragraph of their own after it). It lives here,
// once, and TestSharedOptions holds each role's comment to it: edit both
// together.
var Docs = map[string]string{
	"Brokers": `Brokers sets the seed brokers ("host:port", a host and a port from 1
to 65535). Required: there is no default. Given more than once, the
brokers add up. The slice is copied.`,

	"TLS": `TLS dials the brokers over TLS with a clone of cfg. The default is
plaintext; cfg must not be nil.`,

	"SASL": `SASL authenticates to the brokers with m (for example
plain.Auth{...}.AsMechanism() or scram.Auth{...}.AsSha512Mechanism() from
franz-go's pkg/sasl). Given more than once, the mechanisms are tried in
order, as kgo.SASL does. The default is no authentication; m must not be
nil.`,

	"Registry": `Registry sets the schema registry. The caller owns it: closing the
producer, consumer or client does not close it, and it may be shared
with other producers, consumers and clients. r must not be nil.`,

	"WithLogger": `WithLogger sets the logger for ordo's own lines and for franz-go's, at
[KgoLogLevel] and above (they carry source=kgo; the password of a URL is
redacted in every line). Errors returned to the caller are not logged
again. The default is slog.Default() at the time New is called; l must
not be nil.`,

	"KgoLogLevel": `KgoLogLevel sets the lowest level of franz-go's own log lines passed
to the logger (see [WithLogger]), for example slog.LevelInfo to see every
connection and metadata refresh, or slog.LevelError to keep only errors.
The default is slog.LevelWarn: warnings such as "unable to open
connection to broker" and errors such as a failed SASL login show up
within seconds; franz-go's info lines are for its developers.`,

	"KgoOpts": `KgoOpts passes raw franz-go client options through, applied after
ordo's own. It is an escape hatch: an option can weaken ordo's
guarantees (kgo.RequiredAcks, kgo.DisableIdempotentWrite) or break the
client. The default is none; no option may be nil.`,

	"WithTracerProvider": `WithTracerProvider sets where spans go. The default is the global
provider, a no-op until an OpenTelemetry SDK is installed; tp must not be
nil.`,

	"WithMeterProvider": `WithMeterProvider sets where metrics go. The default is the global
provider, a no-op until an OpenTelemetry SDK is installed; mp must not be
nil.`,

	"WithPropagator": `WithPropagator sets how trace context is carried in record headers. The
default is the global propagator (set it to propagation.TraceContext{}
for W3C traceparent headers); p must not be nil.`,

	"RedactKeys": `RedactKeys leaves record keys out of spans and logs, for keys that are
personal data. The default is that keys are included.`,
}
