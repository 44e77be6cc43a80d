package dlq

// Reason says, in one stable machine-readable word, why a record was
// dead-lettered. It is written to the ordo-reason header; dashboards and
// redrive filters match on it, so the values never change once released.
type Reason string

// The reasons. The first group is a handler's verdict, the second poison
// found before any handler ran, the last what ordo decided about order, age,
// loops and size.
const (
	// HandlerExhausted: the handler kept failing with transient errors
	// until its retry budget (attempts or elapsed time) ran out.
	HandlerExhausted Reason = "handler-exhausted"
	// Permanent: the handler returned an error marked permanent.
	Permanent Reason = "permanent"

	// Unframe: the value is not in the Confluent wire format (empty, bad
	// magic byte, shorter than the 5-byte header).
	Unframe Reason = "unframe"
	// UnknownSchema: the registry does not know the writer schema ID, and
	// still did not after the confirmation window.
	UnknownSchema Reason = "unknown-schema"
	// UnusableSchema: the writer schema is not usable Avro (another type,
	// references, does not parse).
	UnusableSchema Reason = "unusable-schema"
	// NoHandler: no handler is registered for the record's type.
	NoHandler Reason = "no-handler"
	// Decode: the body does not decode with the writer schema into the
	// handler's type.
	Decode Reason = "decode"
	// Tombstone: a record with a null value that no handler accepts.
	Tombstone Reason = "tombstone"

	// Quarantined: an earlier record of the same key in the same partition
	// was dead-lettered and the key has not been redriven yet; the record
	// follows it to keep the key's events together and in order. The
	// ordo-quarantine-offset header names the offset that started it.
	Quarantined Reason = "quarantined"
	// Expired: the record was older than the replay age window when the
	// consumer caught up.
	Expired Reason = "expired"
	// RedriveLoop: the record was redriven the maximum number of times and
	// failed again; redrive no longer republishes it.
	RedriveLoop Reason = "redrive-loop"
	// TooLarge: the dead letter does not hold the whole record, which did
	// not fit the dead-letter topic's max.message.bytes: [Fit] left out
	// headers, the value or the key's tail, and says which;
	// ordo-original-reason holds the reason it failed for. The original is
	// in the source topic, at the dead letter's coordinates. Redrive
	// cannot republish it and leaves its key's chain quarantined.
	TooLarge Reason = "too-large"
)

// Reasons lists every reason, in the order above.
var Reasons = []Reason{
	HandlerExhausted, Permanent,
	Unframe, UnknownSchema, UnusableSchema, NoHandler, Decode, Tombstone,
	Quarantined, Expired, RedriveLoop, TooLarge,
}

// Known reports whether r is one of [Reasons].
func (r Reason) Known() bool {
	for _, k := range Reasons {
		if r == k {
			return true
		}
	}
	return false
}

// Unreadable reports whether r says the consumer could not read the
// record at all: [Unframe], [UnknownSchema], [UnusableSchema], [Decode].
// Republished unchanged, such a record fails the same way again (unless
// its cause was fixed: the registry got the schema back, a deploy reads
// the body), so [Client.Redrive] leaves it unless
// RedriveConfig.IncludeUnreadable is set. A record no handler took
// ([NoHandler], [Tombstone]) was read; a deploy can handle it.
func (r Reason) Unreadable() bool {
	switch r {
	case Unframe, UnknownSchema, UnusableSchema, Decode:
		return true
	}
	return false
}

// Stage says where in the consumer's pipeline a record failed; it is
// written to the ordo-stage header.
type Stage string

// The stages, in pipeline order.
const (
	StageUnframe    Stage = "unframe"    // splitting the wire-format header
	StageSchema     Stage = "schema"     // fetching the writer schema
	StageDecode     Stage = "decode"     // decoding into the handler's type
	StageDispatch   Stage = "dispatch"   // finding a handler
	StageHandle     Stage = "handle"     // the handler
	StageQuarantine Stage = "quarantine" // behind a dead-lettered record of its key
	StageReplay     Stage = "replay"     // the replay age window
)
