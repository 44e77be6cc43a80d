package dlq

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/internal/header"
)

// Info is what a dead-letter record's headers say about the original
// record and its failure. Spring Kafka's, Kafka Streams', Kafka Connect's
// and share groups' dead letters parse too (see [Family]); the fields
// only ordo writes are then zero.
type Info struct {
	Family Family // the header family it was read from

	Topic         string    // original topic
	Partition     int32     // original partition
	Offset        int64     // original offset
	Timestamp     time.Time // original timestamp; zero if unknown (-1)
	TimestampType string    // "CreateTime", "LogAppendTime" or "NoTimestampType"
	Group         string    // consumer group that dead-lettered it

	FQCN      string // type of the failure
	CauseFQCN string // type of its root cause, if different
	Message   string // failure message (bounded by [MaxMessageBytes] when ordo wrote it)

	Reason   Reason // ordo-reason; empty for a record not written by ordo
	Stage    Stage  // ordo-stage
	Attempts int    // ordo-attempts

	// QuarantineOffset is ordo-quarantine-offset, or -1 without it.
	QuarantineOffset int64
	// Redrives is ordo-redrives: how often the record was redriven before
	// it failed this time.
	Redrives int

	// What a dead letter with reason [TooLarge] left out (see [Fit]).
	OriginalReason    Reason // ordo-original-reason: the reason it failed for
	OriginalSize      int64  // ordo-original-size: the value's length, or -1 without it
	DroppedHeaders    int    // ordo-dropped-headers: original headers left out
	OriginalKeySize   int64  // ordo-original-key-size: the key's length when it was cut, or -1
	OriginalKeySHA256 string // ordo-original-key-sha256: hex SHA-256 of the key when it was cut
}

// ChainStart is the original-partition offset of the record that started
// the quarantine this dead letter belongs to: its QuarantineOffset when it
// was quarantined behind another record, else its own offset.
func (i Info) ChainStart() int64 {
	if i.Reason == Quarantined && i.QuarantineOffset >= 0 {
		return i.QuarantineOffset
	}
	return i.Offset
}

// Parse reads the dead-letter headers of r. When a header appears more
// than once the last wins, as Java's Headers.lastHeader does. The
// families are tried in turn: kafka_dlt-* (ordo, Spring), __dlq.errors.*
// (share groups), __streams.errors.* (Kafka Streams), __connect.errors.*
// (Kafka Connect); the first whose original-topic header is present is
// read (see [Family] for what each maps to which field). A record with
// none is [ErrNotDeadLetter]; without the original partition or offset,
// with an empty original topic (Streams and Connect write one for a
// failure without an input record), or with any header not in its
// encoding, a *[HeaderError] matching [ErrMalformed]. Parse never panics,
// whatever the bytes.
func Parse(r *kgo.Record) (Info, error) {
	info := Info{Family: FamilySpring, QuarantineOffset: -1, OriginalSize: -1, OriginalKeySize: -1}
	last := lastHeaders(r.Headers)
	topic, ok := last[header.DLTOriginalTopic]
	if !ok {
		if info, ok, err := parseForeign(r, last); ok {
			return info, err
		}
		return Info{}, ErrNotDeadLetter
	}
	info.Topic = string(topic)
	var err error
	if info.Partition, err = int32Header(last, header.DLTOriginalPartition, true); err != nil {
		return Info{}, err
	}
	if info.Offset, err = int64Header(last, header.DLTOriginalOffset, true); err != nil {
		return Info{}, err
	}
	if err := parseTimestamp(last, &info); err != nil {
		return Info{}, err
	}
	for name, dst := range map[string]*string{
		header.DLTOriginalTopic:         &info.Topic,
		header.DLTOriginalTimestampType: &info.TimestampType,
		header.DLTOriginalConsumerGroup: &info.Group,
		header.DLTExceptionFQCN:         &info.FQCN,
		header.DLTExceptionCauseFQCN:    &info.CauseFQCN,
		header.DLTExceptionMessage:      &info.Message,
		header.Reason:                   (*string)(&info.Reason),
		header.Stage:                    (*string)(&info.Stage),
		header.OriginalReason:           (*string)(&info.OriginalReason),
		header.OriginalKeySHA256:        &info.OriginalKeySHA256,
	} {
		if err := textHeader(last, name, dst); err != nil {
			return Info{}, err
		}
	}
	return parseOrdo(last, info)
}

func parseOrdo(last map[string][]byte, info Info) (Info, error) {
	var err error
	if info.Attempts, err = countHeader(last, header.Attempts); err != nil {
		return Info{}, err
	}
	if info.Redrives, err = countHeader(last, header.Redrives); err != nil {
		return Info{}, err
	}
	if info.DroppedHeaders, err = countHeader(last, header.DroppedHeaders); err != nil {
		return Info{}, err
	}
	for name, dst := range map[string]*int64{
		header.QuarantineOffset: &info.QuarantineOffset,
		header.OriginalSize:     &info.OriginalSize,
		header.OriginalKeySize:  &info.OriginalKeySize,
	} {
		if v, ok := last[name]; ok {
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil || n < 0 {
				return Info{}, &HeaderError{Header: name, Reason: fmt.Sprintf("%q is not a non-negative number", clip(v))}
			}
			*dst = n
		}
	}
	return info, nil
}

func parseTimestamp(last map[string][]byte, info *Info) error {
	ms, err := int64Header(last, header.DLTOriginalTimestamp, false)
	if err != nil {
		return err
	}
	if ms >= 0 {
		if _, ok := last[header.DLTOriginalTimestamp]; ok {
			info.Timestamp = time.UnixMilli(ms)
		}
	}
	return nil
}

func lastHeaders(hs []kgo.RecordHeader) map[string][]byte {
	m := make(map[string][]byte, len(hs))
	for _, h := range hs {
		m[h.Key] = h.Value
	}
	return m
}

func int32Header(last map[string][]byte, name string, required bool) (int32, error) {
	v, ok := last[name]
	if !ok {
		if required {
			return 0, &HeaderError{Header: name, Reason: "missing"}
		}
		return 0, nil
	}
	if len(v) != 4 {
		return 0, &HeaderError{Header: name, Reason: fmt.Sprintf("%d bytes, want 4", len(v))}
	}
	return int32(binary.BigEndian.Uint32(v)), nil
}

func int64Header(last map[string][]byte, name string, required bool) (int64, error) {
	v, ok := last[name]
	if !ok {
		if required {
			return 0, &HeaderError{Header: name, Reason: "missing"}
		}
		return -1, nil
	}
	if len(v) != 8 {
		return 0, &HeaderError{Header: name, Reason: fmt.Sprintf("%d bytes, want 8", len(v))}
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

func textHeader(last map[string][]byte, name string, dst *string) error {
	v, ok := last[name]
	if !ok {
		return nil
	}
	if !utf8.Valid(v) {
		return &HeaderError{Header: name, Reason: "not valid UTF-8"}
	}
	*dst = string(v)
	return nil
}

func countHeader(last map[string][]byte, name string) (int, error) {
	v, ok := last[name]
	if !ok {
		return 0, nil
	}
	n, err := strconv.Atoi(string(v))
	if err != nil || n < 0 {
		return 0, &HeaderError{Header: name, Reason: fmt.Sprintf("%q is not a count", clip(v))}
	}
	return n, nil
}

// clip keeps a malformed value short in an error message.
func clip(v []byte) []byte {
	if len(v) > 32 {
		return v[:32]
	}
	return v
}
