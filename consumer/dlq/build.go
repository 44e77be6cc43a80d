package dlq

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ordo-go/ordo/internal/telemetry"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/internal/header"
)

// MaxMessageBytes bounds the kafka_dlt-exception-message header. A longer
// message is cut at the last whole UTF-8 character that fits, so the
// header stays valid text for every reader; an error message that is not
// valid UTF-8 has its bad bytes replaced by U+FFFD first.
const MaxMessageBytes = 1024

// Failure describes why a record is dead-lettered.
type Failure struct {
	Reason   Reason // required; written to ordo-reason
	Stage    Stage  // where it failed; written to ordo-stage when set
	Attempts int    // handler attempts made (0 for poison); ordo-attempts
	Err      error  // the failure; nil is allowed for [Quarantined] and [Expired]
	Group    string // the consumer group; kafka_dlt-original-consumer-group

	// Cause, when set, is the error Err carries with context only (the
	// consumer's *RecordError around a handler's error): its type is
	// written to kafka_dlt-exception-fqcn, as Spring writes the cause of
	// its ListenerExecutionFailedException, so the user's error type is
	// where a person or a Spring tool looks first. The message is still
	// Err's. Default: Err.
	Cause error

	// QuarantineOffset is, for reason [Quarantined], the original-partition
	// offset of the record whose dead letter started the key's quarantine;
	// it is written to ordo-quarantine-offset. Ignored for other reasons.
	QuarantineOffset int64
}

// Build returns the dead-letter record for r, which failed as f, addressed
// to topic. The record keeps r's key (so a keyed producer places it on the
// key's partition of the dead-letter topic by murmur2), value, headers and
// context (its trace), and adds Spring Kafka's dead-letter headers and
// ordo's (see the package doc for the list and encodings). Dead-letter
// headers r already carries, because it was dead-lettered, redriven and
// failed again, are replaced rather than appended, so headers never grow;
// ordo-redrives is kept, as the loop guard counts on it.
//
// Partition and timestamp are left unset for the producer to fill. Build
// does not modify r and never fails.
func Build(topic string, r *kgo.Record, f Failure) *kgo.Record {
	err := f.Err
	if err == nil {
		err = defaultErr(f)
	}
	hs := make([]kgo.RecordHeader, 0, len(r.Headers)+12)
	for _, h := range r.Headers {
		if !isFailureHeader(h.Key) {
			hs = append(hs, h)
		}
	}
	cause := f.Cause
	if cause == nil {
		cause = err
	}
	hs = appendSpring(hs, r, f.Group, err, cause)
	hs = appendOrdo(hs, f)
	return &kgo.Record{
		Topic:   topic,
		Key:     r.Key,
		Value:   r.Value,
		Headers: hs,
		Context: r.Context,
	}
}

func defaultErr(f Failure) error {
	if f.Reason == Quarantined {
		return &QuarantinedError{Offset: f.QuarantineOffset}
	}
	return errors.New(string(f.Reason))
}

// isFailureHeader reports whether a header describes an earlier failure
// or redrive, and so is replaced when the record fails again.
func isFailureHeader(k string) bool {
	switch k {
	case header.Attempts, header.Reason, header.Stage, header.QuarantineOffset,
		header.RedriveChain, header.RedriveLift, header.OriginalReason, header.OriginalSize,
		header.DroppedHeaders, header.OriginalKeySize, header.OriginalKeySHA256:
		return true
	}
	return strings.HasPrefix(k, header.DLTPrefix) || isForeignHeader(k)
}

func appendSpring(hs []kgo.RecordHeader, r *kgo.Record, group string, err, cause error) []kgo.RecordHeader {
	ts := int64(-1) // Java's ConsumerRecord.NO_TIMESTAMP
	if !r.Timestamp.IsZero() {
		ts = r.Timestamp.UnixMilli()
	}
	hs = append(hs,
		kgo.RecordHeader{Key: header.DLTOriginalTopic, Value: []byte(r.Topic)},
		kgo.RecordHeader{Key: header.DLTOriginalPartition, Value: binary.BigEndian.AppendUint32(nil, uint32(r.Partition))},
		kgo.RecordHeader{Key: header.DLTOriginalOffset, Value: binary.BigEndian.AppendUint64(nil, uint64(r.Offset))},
		kgo.RecordHeader{Key: header.DLTOriginalTimestamp, Value: binary.BigEndian.AppendUint64(nil, uint64(ts))},
		kgo.RecordHeader{Key: header.DLTOriginalTimestampType, Value: []byte(timestampType(r))},
	)
	if group != "" {
		hs = append(hs, kgo.RecordHeader{Key: header.DLTOriginalConsumerGroup, Value: []byte(group)})
	}
	outer, root := typeNames(cause)
	hs = append(hs, kgo.RecordHeader{Key: header.DLTExceptionFQCN, Value: []byte(outer)})
	if root != outer {
		hs = append(hs, kgo.RecordHeader{Key: header.DLTExceptionCauseFQCN, Value: []byte(root)})
	}
	return append(hs, kgo.RecordHeader{Key: header.DLTExceptionMessage, Value: []byte(Truncate(err.Error(), MaxMessageBytes))})
}

func appendOrdo(hs []kgo.RecordHeader, f Failure) []kgo.RecordHeader {
	hs = append(hs,
		kgo.RecordHeader{Key: header.Reason, Value: []byte(f.Reason)},
		kgo.RecordHeader{Key: header.Attempts, Value: []byte(strconv.Itoa(f.Attempts))},
	)
	if f.Stage != "" {
		hs = append(hs, kgo.RecordHeader{Key: header.Stage, Value: []byte(f.Stage)})
	}
	if f.Reason == Quarantined {
		hs = append(hs, kgo.RecordHeader{Key: header.QuarantineOffset, Value: []byte(strconv.FormatInt(f.QuarantineOffset, 10))})
	}
	return hs
}

// timestampType is Java's TimestampType.toString() for r.
func timestampType(r *kgo.Record) string {
	switch r.Attrs.TimestampType() {
	case 0:
		return "CreateTime"
	case 1:
		return "LogAppendTime"
	}
	return "NoTimestampType"
}

// Truncate returns s as valid UTF-8 of at most max bytes, cut at a
// character boundary.
func Truncate(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// typeNames returns the Go type of err's outermost meaningful error (the
// classifier's, internal/telemetry.Typed: fmt's %w wrappers and
// errors.Join say nothing about the failure) and of its root cause.
func typeNames(err error) (outer, cause string) {
	e := telemetry.Typed(err)
	outer = fmt.Sprintf("%T", e)
	for next := unwrapFirst(e); next != nil; next = unwrapFirst(e) {
		e = next
	}
	return outer, fmt.Sprintf("%T", e)
}

// unwrapFirst returns the error err wraps, the first one of a join.
func unwrapFirst(err error) error {
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		if errs := u.Unwrap(); len(errs) > 0 {
			return errs[0]
		}
	case interface{ Unwrap() error }:
		return u.Unwrap()
	}
	return nil
}
