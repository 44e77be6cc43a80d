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
// *[IncompatibleError]. A tool that shows records of types it does not
// know (dlq's Show) decodes a body with [Writer.Decode] into maps and
// slices for encoding/json.
//
// Every array and map block count is checked before it is trusted, when
// a field is decoded and when a writer's field the reader lacks is
// skipped: a body that declares more items than its remaining bytes can
// hold (each item takes at least its type's fewest bytes: 1 for a
// string, 8 for a double, the key and value of a map entry) is
// [ErrTruncated]; one array or map of more than 16,777,216 (2^24) items,
// or more than 2^24 items that take no bytes (null, a record of no
// fields or only null ones) in one body, is [ErrCorrupt], and so is a
// block that declares its byte size when its items take other bytes (a
// reader that skips the field trusts the size). So a 20-byte
// body that declares 2^40 items fails at once instead of looping 2^40
// times, and a writer field of any Avro type, "null" included, can be
// skipped. A skipped writer type that recurses (a Node whose field holds
// Nodes) may nest 100,000 deep; deeper is [ErrCorrupt], before the
// recursion can exhaust the stack.
//
// Encoding refuses a value outside its logical type's domain with a
// *[ValueError] naming the field (a decimal with more fraction digits than
// its scale, which is never rounded; a uuid that is not one; a time of day
// past 24 h; a timestamp or date out of range). What ordo writes, Apache
// Avro Java and Python's fastavro read value by value, and the other way
// round (the interop witnesses in the integration suite).
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
// they make no registry call. The text registered is the user's own schema
// text (whitespace removed), so every client that fetches it reads the
// same defaults. Registry errors match [ErrSubjectNotFound],
// [ErrVersionNotFound], [ErrUnknownSchema] and [ErrInvalidSchema] through
// [errors.Is], by the registry's error code. Each call is bounded by
// [LookupTimeout] (default [DefaultLookupTimeout]); [IsTransient] tells an
// outage worth waiting out (no answer, a timeout, 5xx, 429) from a final
// answer (an unknown ID, a schema this reader cannot use). A password in a
// registry URL never appears in an error.
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
// The compatibility checker is ordo's own, and it returns for every pair of
// schemas, recursive ones included. A writer union read by a narrower
// reader union is refused as a whole, as the registry's own check refuses
// it, although only the records written with the missing branch would fail.
//
// # Registration modes
//
// A writer finds its schema ID in one of three [Mode]s: [AutoRegister]
// ([Registry.Register], the default, gated by compatibility),
// [LookupOnly] ([Registry.Lookup]: the exact schema must already be
// registered, e.g. by CI; nothing is ever registered, so read-only
// credentials do) and [UseLatest] ([Registry.Latest]: write with the
// subject's latest version, after checking the Go type binds to it).
// A refusal is a *[ModeError] naming the mode, the subject and why;
// [ErrNotRegistered] when the schema or subject is not there.
//
// # Schema references
//
// A schema may use named types defined by schemas registered under other
// subjects. [WithReferences] gives a codec those schemas (its Go type is
// bound across all of them) and [Registry.Register] registers with the
// references, checking them against the registry; the compatibility gate
// compares with every version's referenced types as the registry holds
// them. [Registry.Writer] resolves a writer schema's references through
// the registry, recursively, each subject version fetched once. A
// reference to a subject or version the registry does not have makes the
// writer unusable ([ErrUnusableSchema]: the record is poison); a registry
// that cannot be reached is transient ([IsTransient]). JSON Schema and
// Protobuf writers are [ErrUnusableSchema] too: ordo decodes Avro only.
//
// # Avro library
//
// The codecs and the compatibility gate run on a fork of
// github.com/hamba/avro/v2 (archived upstream) kept in schema/internal/avro
// with its licence; FORK.md there lists each change and why. It is the only
// Avro library the SDK compiles, and each schema is parsed once. No Avro
// library type appears in this package's API.
package schema
