package header

// Dead-letter headers. The kafka_dlt-* names and their encodings are Spring
// Kafka's (KafkaHeaders.DLT_* as DeadLetterPublishingRecoverer writes them),
// so a Spring service, or any tool written for Spring's dead-letter topics,
// reads ordo's dead letters and the other way round. The encodings are
// noted on each name; consumer/dlq writes and reads them.
const (
	// DLTPrefix starts every Spring dead-letter header. A record that is
	// dead-lettered again has all of them replaced, so headers never grow.
	DLTPrefix = "kafka_dlt-"
	// DLTOriginalTopic is the topic the record was consumed from (UTF-8).
	DLTOriginalTopic = "kafka_dlt-original-topic"
	// DLTOriginalPartition is its partition (4-byte big-endian int32).
	DLTOriginalPartition = "kafka_dlt-original-partition"
	// DLTOriginalOffset is its offset (8-byte big-endian int64).
	DLTOriginalOffset = "kafka_dlt-original-offset"
	// DLTOriginalTimestamp is its timestamp in Unix milliseconds (8-byte
	// big-endian int64).
	DLTOriginalTimestamp = "kafka_dlt-original-timestamp"
	// DLTOriginalTimestampType is Java's TimestampType name: "CreateTime",
	// "LogAppendTime" or "NoTimestampType" (UTF-8).
	DLTOriginalTimestampType = "kafka_dlt-original-timestamp-type"
	// DLTOriginalConsumerGroup is the group that consumed it (UTF-8).
	DLTOriginalConsumerGroup = "kafka_dlt-original-consumer-group"
	// DLTExceptionFQCN names the failure's type (UTF-8). Spring writes a
	// Java class name; ordo writes the Go type, e.g. "*schema.FrameError".
	DLTExceptionFQCN = "kafka_dlt-exception-fqcn"
	// DLTExceptionCauseFQCN names the type of the failure's root cause
	// (UTF-8), when it differs from DLTExceptionFQCN.
	DLTExceptionCauseFQCN = "kafka_dlt-exception-cause-fqcn"
	// DLTExceptionMessage is the failure's message (UTF-8, bounded).
	DLTExceptionMessage = "kafka_dlt-exception-message"
	// DLTExceptionStacktrace is Spring's stack trace (UTF-8); ordo does not
	// write it (Go errors carry no stack) and removes a stale one.
	DLTExceptionStacktrace = "kafka_dlt-exception-stacktrace"
)

// ordo's own dead-letter and redrive headers (decimal ASCII unless said).
const (
	// Stage names where the record failed: unframe, schema, decode,
	// dispatch, handle, quarantine, replay.
	Stage = "ordo-stage"
	// QuarantineOffset is, on a record dead-lettered with reason
	// "quarantined", the original-partition offset of the dead-lettered
	// record of the same key that started the quarantine.
	QuarantineOffset = "ordo-quarantine-offset"
	// Redrives counts how many times a record was redriven from the
	// dead-letter topic to its original topic; the loop guard reads it.
	Redrives = "ordo-redrives"
	// RedriveChain is, on a redriven record, the quarantine-start offset of
	// the dead-letter chain it belongs to (see consumer/dlq's doc).
	RedriveChain = "ordo-redrive-chain"
	// RedriveLift is, on the last redriven record of a chain, the highest
	// original offset of that chain the redrive republished: handling it
	// lifts the key's quarantine (see consumer/dlq's doc).
	RedriveLift = "ordo-redrive-lift"
)

// Headers of a dead letter cut to fit its topic (reason "too-large"): the
// dead letter does not hold the whole original record, and says what it
// left out so an operator can fetch the original from the source topic
// (kafka_dlt-original-topic, -partition, -offset). See consumer/dlq's Fit.
const (
	// OriginalReason is the reason the record failed for; ordo-reason
	// says "too-large" on such a dead letter.
	OriginalReason = "ordo-original-reason"
	// OriginalSize is the original value's length in bytes; a dead letter
	// whose value is shorter (empty) left the value out.
	OriginalSize = "ordo-original-size"
	// DroppedHeaders counts the original headers left out.
	DroppedHeaders = "ordo-dropped-headers"
	// OriginalKeySize is the original key's length in bytes, written when
	// the key itself was cut to its first bytes.
	OriginalKeySize = "ordo-original-key-size"
	// OriginalKeySHA256 is the hex SHA-256 of the original key, written
	// with OriginalKeySize.
	OriginalKeySHA256 = "ordo-original-key-sha256"
)
