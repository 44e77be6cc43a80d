package dlq

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Family names the family of dead-letter headers a record carries, which
// says what wrote it. A dead-letter topic may be fed by several: [Parse]
// reads each into the same [Info] fields, so [Client.List] counts them
// and [Client.Redrive] republishes them to their original topics.
type Family string

const (
	// FamilySpring: kafka_dlt-*, written by ordo (with its ordo-* headers)
	// and by Spring Kafka's DeadLetterPublishingRecoverer.
	FamilySpring Family = "spring"
	// FamilyStreams: __streams.errors.*, written by Kafka Streams' built-in
	// exception handlers when errors.dead.letter.queue.topic.name is set
	// (KIP-1034, Kafka 4.2).
	FamilyStreams Family = "streams"
	// FamilyConnect: __connect.errors.*, written by a Kafka Connect sink
	// connector with errors.deadletterqueue.context.headers.enable=true.
	FamilyConnect Family = "connect"
	// FamilyShareGroup: __dlq.errors.*, written by the broker for a share
	// group with a dead-letter topic (KIP-1191, Kafka 4.4).
	FamilyShareGroup Family = "share-group"
)

// The other families' header names. Their values are UTF-8 text, numbers
// in decimal (Java's String.valueOf), unlike Spring's big-endian binary.
//
// Kafka Streams: org.apache.kafka.streams.errors.ExceptionHandlerUtils
// (apache/kafka, streams/src/main/java). exception is the exception's
// toString(): its class name, then ": " and its message when it has one.
// partition and offset are -1 and topic null when the failure had no
// input record (a punctuation).
//
// Kafka Connect: org.apache.kafka.connect.runtime.errors.DeadLetterQueueReporter
// (the prefix "__connect.errors." and the names below); partition and
// offset are -1 without a consumed record.
//
// Share groups: org.apache.kafka.server.share.dlq.ShareGroupDLQStateManager
// on apache/kafka's trunk, read for Kafka 4.4 (KIP-1191); the KIP page
// itself did not list the names when this was written, so they are the
// implementation's. delivery.count is the number of deliveries, message
// the reason ("Offset rejected by client.", "Offset delivery count
// exceeded the threshold."); there is no exception class.
const (
	streamsTopic     = "__streams.errors.topic"
	streamsPartition = "__streams.errors.partition"
	streamsOffset    = "__streams.errors.offset"
	streamsException = "__streams.errors.exception"
	streamsMessage   = "__streams.errors.message"

	connectTopic     = "__connect.errors.topic"
	connectPartition = "__connect.errors.partition"
	connectOffset    = "__connect.errors.offset"
	connectException = "__connect.errors.exception.class.name"
	connectMessage   = "__connect.errors.exception.message"

	shareTopic     = "__dlq.errors.topic"
	sharePartition = "__dlq.errors.partition"
	shareOffset    = "__dlq.errors.offset"
	shareGroup     = "__dlq.errors.group"
	shareDelivery  = "__dlq.errors.delivery.count"
	shareMessage   = "__dlq.errors.message"
)

// foreignPrefixes are the prefixes of the other families' headers, all
// removed by [Restore]: they describe the failure, not the record.
var foreignPrefixes = []string{"__streams.errors.", "__connect.errors.", "__dlq.errors."}

func isForeignHeader(k string) bool {
	for _, p := range foreignPrefixes {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// foreign is one family's header names; an empty name is a field the
// family does not write.
type foreign struct {
	family                                       Family
	topic, partition, offset, exception, message string
	group, attempts                              string
	// copiesTime: the dead letter keeps the original record's timestamp
	// (Streams and Connect do; the broker stamps the share group's with
	// the time it wrote it).
	copiesTime bool
	// exceptionText: the exception header is Java's toString(), "Class:
	// message", not the bare class name.
	exceptionText bool
}

// foreignFamilies in the order Parse tries them, after Spring's.
var foreignFamilies = []foreign{
	{family: FamilyShareGroup, topic: shareTopic, partition: sharePartition, offset: shareOffset,
		message: shareMessage, group: shareGroup, attempts: shareDelivery},
	{family: FamilyStreams, topic: streamsTopic, partition: streamsPartition, offset: streamsOffset,
		exception: streamsException, message: streamsMessage, copiesTime: true, exceptionText: true},
	{family: FamilyConnect, topic: connectTopic, partition: connectPartition, offset: connectOffset,
		exception: connectException, message: connectMessage, copiesTime: true},
}

// parseForeign reads r's headers of the first family it carries. ok is
// false when it carries none.
func parseForeign(r *kgo.Record, last map[string][]byte) (info Info, ok bool, err error) {
	for _, f := range foreignFamilies {
		if _, ok := last[f.topic]; ok {
			info, err := f.parse(r, last)
			return info, true, err
		}
	}
	return Info{}, false, nil
}

func (f foreign) parse(r *kgo.Record, last map[string][]byte) (Info, error) {
	info := Info{Family: f.family, QuarantineOffset: -1, OriginalSize: -1, OriginalKeySize: -1}
	for name, dst := range map[string]*string{f.topic: &info.Topic, f.exception: &info.FQCN, f.message: &info.Message, f.group: &info.Group} {
		if name == "" {
			continue
		}
		if v := last[name]; !utf8.Valid(v) {
			return Info{}, &HeaderError{Header: name, Reason: "not valid UTF-8"}
		}
		*dst = string(last[name])
	}
	if info.Topic == "" {
		return Info{}, &HeaderError{Header: f.topic, Reason: "empty: the failure had no input record"}
	}
	p, err := decimal(last, f.partition, 32)
	if err != nil {
		return Info{}, err
	}
	info.Partition = int32(p)
	if info.Offset, err = decimal(last, f.offset, 64); err != nil {
		return Info{}, err
	}
	if f.exceptionText {
		info.FQCN, _, _ = strings.Cut(info.FQCN, ": ")
	}
	if f.copiesTime && !r.Timestamp.IsZero() {
		info.Timestamp = r.Timestamp
	}
	// ordo-redrives: the loop guard counts these records' redrives too.
	if info, err = parseOrdo(last, info); err != nil {
		return Info{}, err
	}
	if f.attempts != "" {
		if _, ok := last[f.attempts]; ok {
			n, err := decimal(last, f.attempts, 32)
			if err != nil || n < 0 {
				return Info{}, &HeaderError{Header: f.attempts, Reason: fmt.Sprintf("%q is not a count", clip(last[f.attempts]))}
			}
			info.Attempts = int(n)
		}
	}
	return info, nil
}

// decimal reads a required decimal header of the given bit size; -1 (not
// known) is the only negative value taken.
func decimal(last map[string][]byte, name string, bits int) (int64, error) {
	v, ok := last[name]
	if !ok {
		return 0, &HeaderError{Header: name, Reason: "missing"}
	}
	n, err := strconv.ParseInt(string(v), 10, bits)
	if err != nil || n < -1 {
		return 0, &HeaderError{Header: name, Reason: fmt.Sprintf("%q is not a decimal %d-bit number", clip(v), bits)}
	}
	return n, nil
}
