package dlq

import (
	"crypto/tls"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"

	"github.com/ordo-go/ordo/schema"
)

// The options below are the settings every role takes (the producer, the
// consumer, this package's Client): one name, one doc opening, one
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
// For the Client it is optional: [Client.Show] decodes values through it;
// without it Show leaves values undecoded.
func Registry(r *schema.Registry) Option { return optionFunc(func(c *config) { c.set.SetRegistry(r) }) }

// WithLogger sets the logger for ordo's own lines and for franz-go's, at
// [KgoLogLevel] and above (they carry source=kgo; the password of a URL is
// redacted in every line). Errors returned to the caller are not logged
// again. The default is slog.Default() at the time New is called; l must
// not be nil.
func WithLogger(l *slog.Logger) Option { return optionFunc(func(c *config) { c.set.SetLogger(l) }) }

// KgoLogLevel sets the lowest level of franz-go's own log lines passed
// to the logger (see [WithLogger]), for example slog.LevelInfo to see every
// connection and metadata refresh, or slog.LevelError to keep only errors.
// The default is slog.LevelWarn: warnings such as "unable to open
// connection to broker" and errors such as a failed SASL login show up
// within seconds; franz-go's info lines are for its developers.
func KgoLogLevel(l slog.Level) Option { return optionFunc(func(c *config) { c.set.SetKgoLogLevel(l) }) }

// KgoOpts passes raw franz-go client options through, applied after
// ordo's own. It is an escape hatch: an option can weaken ordo's
// guarantees (kgo.RequiredAcks, kgo.DisableIdempotentWrite) or break the
// client. The default is none; no option may be nil.
//
// For the Client: options that change durability weaken the redrive's
// guarantees.
func KgoOpts(opts ...kgo.Opt) Option {
	opts = append([]kgo.Opt(nil), opts...)
	return optionFunc(func(c *config) { c.set.KgoOpts(opts) })
}
