package dlq

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/internal/header"
)

// BatchOverhead is what [Size] adds to a record for the batch around it:
// Kafka's v2 batch header is 61 bytes and franz-go counts a few more,
// so a record of Size n fits a topic whose max.message.bytes is n, as
// franz-go and the broker count.
const BatchOverhead = 128

// maxKeptHeader bounds one of ordo's, Spring's or the trace's headers that
// [Fit] keeps whatever the rest costs: the longest ordo writes is
// kafka_dlt-exception-message, at most MaxMessageBytes.
const maxKeptHeader = 4096

// cutReserve is room for the headers Fit adds (reason, original reason,
// sizes, dropped count, key hash), each at its longest.
const cutReserve = 384

// kept are the headers Fit keeps first: the dead-letter headers Build
// writes, the loop guard's count, the trace context and the producer's
// contract headers. A record's other headers are kept while they fit.
var kept = map[string]bool{
	header.DLTOriginalTopic: true, header.DLTOriginalPartition: true, header.DLTOriginalOffset: true,
	header.DLTOriginalTimestamp: true, header.DLTOriginalTimestampType: true, header.DLTOriginalConsumerGroup: true,
	header.DLTExceptionFQCN: true, header.DLTExceptionCauseFQCN: true, header.DLTExceptionMessage: true,
	header.Reason: true, header.Attempts: true, header.Stage: true, header.QuarantineOffset: true,
	header.Redrives: true, header.TraceParent: true, header.TraceState: true,
	header.Type: true, header.ID: true, header.Producer: true, header.Seq: true, header.Partitions: true,
}

// Size is the bytes r takes in a record batch of its own, an upper bound
// of what a broker compares with a topic's max.message.bytes (the batch
// header counted as [BatchOverhead]; no compression assumed).
func Size(r *kgo.Record) int {
	n := 1 + 10 + 5 // attributes, timestamp delta, offset delta at their widest
	n += bytesLen(r.Key) + bytesLen(r.Value) + varintLen(int64(len(r.Headers)))
	for _, h := range r.Headers {
		n += headerLen(h)
	}
	return BatchOverhead + varintLen(int64(n)) + n
}

// Fit returns the dead letter d (made by [Build]) as it can be written to
// a topic whose max.message.bytes is maxBytes: d itself when it fits (or
// maxBytes <= 0), else a copy that leaves out what does not fit, in this
// order, keeping as much as it can:
//
//  1. the record's own headers, beyond the last of each of ordo's,
//     Spring's and the trace's (those of at most 4 KiB are always kept);
//     the others are kept in their order while they fit;
//  2. the value, when headers alone cannot make room: it is written empty
//     (not null: a null value is a tombstone to a compacted topic);
//  3. the key's tail, when even the key does not fit: the key is cut to
//     the bytes that fit. The dead letter must still land on the key's
//     partition of the dead-letter topic, beside the key's other dead
//     letters: [PlacementKey] gives the key to place it by.
//
// A cut dead letter has reason [TooLarge]; ordo-original-reason holds the
// reason it failed for, ordo-original-size the value's length, and
// ordo-dropped-headers, ordo-original-key-size and ordo-original-key-sha256
// say what else was left out. Its coordinates (kafka_dlt-original-*) name
// the record to fetch from the source topic. Redrive leaves such a dead
// letter and its key's chain quarantined (see the package doc).
//
// A limit too small even for ordo's own headers and an empty key returns
// the smallest record Fit can make, which the broker will refuse.
func Fit(d *kgo.Record, maxBytes int) *kgo.Record {
	if maxBytes <= 0 || Size(d) <= maxBytes {
		return d
	}
	first, rest := splitHeaders(d.Headers)
	avail := maxBytes - BatchOverhead - cutReserve - 1 - 10 - 5 - 5 - 5 // the record's fixed fields and length
	for i := range first {
		avail -= headerLen(d.Headers[i])
	}
	out := &kgo.Record{Topic: d.Topic, Key: d.Key, Value: d.Value, Context: d.Context, Partition: d.Partition}
	switch {
	case bytesLen(d.Key)+bytesLen(d.Value) <= avail:
		avail -= bytesLen(d.Key) + bytesLen(d.Value)
	case bytesLen(d.Key)+1 <= avail:
		out.Value = []byte{}
		avail -= bytesLen(d.Key) + 1
	default:
		out.Value = []byte{}
		out.Key = d.Key[:max(0, min(len(d.Key), avail-1-5))]
		avail = 0
	}
	keep := make(map[int]bool, len(rest))
	for _, i := range rest {
		if n := headerLen(d.Headers[i]); n <= avail {
			keep[i], avail = true, avail-n
		}
	}
	for i, h := range d.Headers {
		if first[i] || keep[i] {
			out.Headers = append(out.Headers, h)
		}
	}
	out.Headers = cutHeaders(out.Headers, d, len(rest)-len(keep), len(out.Key) < len(d.Key))
	return out
}

// splitHeaders returns the indexes of the headers Fit keeps first (the
// last of each name in kept, when small) and of the others, in order.
func splitHeaders(hs []kgo.RecordHeader) (first map[int]bool, rest []int) {
	first = make(map[int]bool)
	seen := make(map[string]bool)
	for i := len(hs) - 1; i >= 0; i-- {
		h := hs[i]
		if kept[h.Key] && !seen[h.Key] && headerLen(h) <= maxKeptHeader {
			seen[h.Key] = true
			first[i] = true
		}
	}
	for i := range hs {
		if !first[i] {
			rest = append(rest, i)
		}
	}
	return first, rest
}

// cutHeaders sets the reason to too-large and adds what the cut left out.
func cutHeaders(hs []kgo.RecordHeader, d *kgo.Record, dropped int, keyCut bool) []kgo.RecordHeader {
	reason, _ := header.Get(d.Headers, header.Reason)
	out := hs[:0]
	for _, h := range hs {
		if h.Key != header.Reason {
			out = append(out, h)
		}
	}
	out = append(out,
		kgo.RecordHeader{Key: header.Reason, Value: []byte(TooLarge)},
		kgo.RecordHeader{Key: header.OriginalReason, Value: []byte(Truncate(reason, 64))},
		kgo.RecordHeader{Key: header.OriginalSize, Value: []byte(strconv.Itoa(len(d.Value)))},
	)
	if dropped > 0 {
		out = append(out, kgo.RecordHeader{Key: header.DroppedHeaders, Value: []byte(strconv.Itoa(dropped))})
	}
	if keyCut {
		sum := sha256.Sum256(d.Key)
		out = append(out,
			kgo.RecordHeader{Key: header.OriginalKeySize, Value: []byte(strconv.Itoa(len(d.Key)))},
			kgo.RecordHeader{Key: header.OriginalKeySHA256, Value: []byte(hex.EncodeToString(sum[:]))},
		)
	}
	return out
}

// PlacementKey returns the key the dead letter d, returned by [Fit] for
// the dead letter built from a record whose key was orig, is to be
// partitioned by: orig when Fit cut the key (so the dead letter lands on
// the key's partition, beside its other dead letters), else nil.
func PlacementKey(d *kgo.Record, orig []byte) []byte {
	if len(d.Key) < len(orig) {
		return orig
	}
	return nil
}

func headerLen(h kgo.RecordHeader) int {
	return varintLen(int64(len(h.Key))) + len(h.Key) + bytesLen(h.Value)
}

// bytesLen is the encoded length of a varint-prefixed byte string; null
// is a length of -1.
func bytesLen(b []byte) int {
	if b == nil {
		return 1
	}
	return varintLen(int64(len(b))) + len(b)
}

// varintLen is the length of n zig-zag varint encoded, as Kafka's records
// encode lengths.
func varintLen(n int64) int {
	u := uint64(n<<1) ^ uint64(n>>63)
	l := 1
	for u >= 0x80 {
		u >>= 7
		l++
	}
	return l
}

// TopicLimit returns topic's max.message.bytes as the broker reports it
// (the topic's own setting or the broker's default): what [Fit] is given
// for a dead-letter topic, and what a redrive's batches to an original
// topic are sized by.
func TopicLimit(ctx context.Context, cl *kgo.Client, topic string) (int, error) {
	rcs, err := kadm.NewClient(cl).DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return 0, err
	}
	rc, err := rcs.On(topic, nil)
	if err == nil {
		err = rc.Err
	}
	if err != nil {
		return 0, err
	}
	for _, c := range rc.Configs {
		if c.Key == "max.message.bytes" && c.Value != nil {
			return strconv.Atoi(*c.Value)
		}
	}
	return 0, errors.New("no max.message.bytes in the topic's configuration")
}
