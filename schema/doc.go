// Package schema binds Go types to Avro schemas and moves them across the
// wire in the Confluent format, with a schema registry client that checks
// every schema change for compatibility before it is registered.
//
// # Codecs
//
// A [Codec] binds a Go type to one Avro record schema. [NewCodec] walks the
// type against the schema and refuses, with a *[BindError] naming the field
// path, any field that cannot make the round trip:
//
//	c, err := schema.NewCodec[orders.Created](avsc)
//	buf, err = c.AppendFramed(buf[:0], id, &event) // header + Avro body, no allocation
//
// [Codec.Decode] reads bodies written with the codec's own schema;
// [Codec.DecodeFrom] reads bodies written with any compatible writer schema
// (a [Writer]), resolving it into the codec's schema by the Avro rules and
// caching the result per writer ID. Decoding never panics on hostile bytes
// and bounds what a length prefix can make it allocate; errors are a
// *[DecodeError] wrapping [ErrTruncated], [ErrCorrupt] or an
// *[IncompatibleError].
//
// # Wire format
//
// A framed value is [MagicByte], the schema ID as a 4-byte big-endian
// integer, then the Avro body. [AppendHeader] writes the header and
// [Unframe] splits a value, reporting a *[FrameError] for an empty value, a
// wrong magic byte or a short header.
//
// # Registry
//
// [Registry] talks to a Confluent-compatible schema registry through
// franz-go's sr client. [Registry.Register] returns a schema's ID,
// registering it under a subject if needed; [Registry.Writer] returns the
// writer schema for an ID. Both are cached and single-flight: once warm
// they make no registry call. Registry errors match [ErrSubjectNotFound],
// [ErrVersionNotFound], [ErrUnknownSchema] and [ErrInvalidSchema] through
// [errors.Is], by the registry's error code.
//
// The subject a schema is registered under follows a [SubjectStrategy]:
// [TopicName] ("<topic>-value", one record type per topic), [RecordName] or
// [TopicRecordName].
//
// # Compatibility
//
// Before registering a new schema, [Registry.Register] runs a local gate at
// its [GateLevel] (default [Backward]) against the registered versions, and
// asks the registry's own compatibility endpoint; either refusal is an
// *[IncompatibleError]. The local gate holds even when the registry is set
// to NONE. [Check] is the same gate without a registry, for tests and
// tools; package [github.com/ordo-go/ordo/schema/schematest] turns it into
// test assertions.
//
// [Backward] means the new schema can read data written with the old one,
// [Forward] the reverse, [Full] both; the transitive levels compare with
// every version instead of the latest. A subject holds one record type: a
// different top-level record name is incompatible.
//
// # Avro library
//
// The codecs run on github.com/hamba/avro/v2, kept behind a seam (avro.go,
// bind.go and compat.go are the only files that import it); no hamba type
// appears in this package's API.
package schema
