package consumer

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/ordo-go/ordo/internal/header"
	"github.com/ordo-go/ordo/schema"
)

// BenchmarkCeiling is the client-only ceiling of issue 20: raw and ordo
// as in BenchmarkThroughput, on a kfake cluster whose every fetch answers
// from one canned record batch (kfake.SyntheticFetch), so the broker's
// cost (its log, its fetch building) is out of the figures and the
// ratio shows ordo's own cost over a raw poll loop. The batch holds
// ceilingKeys keys of ceilingPerKey records each, ~100-byte framed Avro
// bodies with ordo's headers; every partition serves copies of it from
// any offset, without end.
//
// What differs from a real topic, on both sides alike: each copy starts
// every key's seq at 1 again, which the sequence check counts as a
// producer restart (not a violation), and the records carry no
// ordo-partitions header: one batch served on every partition cannot be
// placed by its keys, and stamping it would count placement violations.
// So the placement check (a murmur2 hash per record) is the one
// per-record check of ordo's that the ceiling leaves out.
func BenchmarkCeiling(b *testing.B) {
	b.Run("raw", func(b *testing.B) {
		brokers, _, codec, id := newCeiling(b)
		b.ReportAllocs()
		b.ResetTimer()
		rawConsume(b, brokers, ceilingTopic, codec, id)
	})
	b.Run("ordo", func(b *testing.B) {
		brokers, reg, codec, _ := newCeiling(b)
		b.ReportAllocs()
		b.ResetTimer()
		ordoConsume(b, brokers, ceilingTopic, reg, codec)
	})
}

const (
	ceilingTopic  = "ceiling"
	ceilingKeys   = benchKeys / benchPartitions // a partition's share of the keys
	ceilingPerKey = 3
)

// newCeiling starts a synthetic cluster serving the ceiling's batch on
// benchPartitions partitions and a registry that knows its schema.
func newCeiling(b *testing.B) (brokers []string, reg *schema.Registry, codec *schema.Codec[Payload], id int) {
	b.Helper()
	sr := srfake.New()
	b.Cleanup(sr.Close)
	reg, err := schema.NewRegistry([]string{sr.URL()})
	if err != nil {
		b.Fatal(err)
	}
	if codec, err = schema.NewCodec[Payload](payloadSchema); err != nil {
		b.Fatal(err)
	}
	if id, err = reg.Register(context.Background(), "ceiling-payload", codec.Schema()); err != nil {
		b.Fatal(err)
	}
	batch := ceilingBatch(b, codec, id)
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(benchPartitions, ceilingTopic),
		kfake.SyntheticFetch(kfake.SyntheticBatch{Batch: batch}))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(kc.Close)
	return kc.ListenAddrs(), reg, codec, id
}

// ceilingBatch builds an uncompressed v2 record batch of ceilingKeys keys
// in turn, ceilingPerKey records each, seq counting up per key, each with
// ordo's type, id, producer and seq headers.
func ceilingBatch(b *testing.B, codec *schema.Codec[Payload], id int) []byte {
	body := strings.Repeat("x", 64)
	typ, producer := []byte(codec.Name()), []byte(uuid.NewString())
	var recs []byte
	n := int32(0)
	for seq := 1; seq <= ceilingPerKey; seq++ {
		for k := range ceilingKeys {
			p := Payload{Key: "key-" + strconv.Itoa(k), Seq: int64(seq), Body: body}
			v, err := codec.AppendFramed(nil, id, &p)
			if err != nil {
				b.Fatal(err)
			}
			r := kmsg.Record{OffsetDelta: n, Key: []byte(p.Key), Value: v, Headers: []kmsg.Header{
				{Key: header.Type, Value: typ},
				{Key: header.ID, Value: []byte(uuid.NewString())},
				{Key: header.Producer, Value: producer},
				{Key: header.Seq, Value: []byte(strconv.Itoa(seq))},
			}}
			// Length counts the bytes after its own varint: measured with
			// Length 0, whose varint is one byte.
			r.Length = int32(len(r.AppendTo(nil)) - 1)
			recs = append(recs, r.AppendTo(nil)...)
			n++
		}
	}
	now := time.Now().UnixMilli() // recent: inside any age window
	rb := kmsg.RecordBatch{PartitionLeaderEpoch: -1, Magic: 2, LastOffsetDelta: n - 1,
		FirstTimestamp: now, MaxTimestamp: now, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1,
		NumRecords: n, Records: recs}
	raw := rb.AppendTo(nil)
	// Length covers every byte after the first offset and itself; the
	// Castagnoli CRC covers from the attributes on.
	binary.BigEndian.PutUint32(raw[8:12], uint32(len(raw)-12))
	binary.BigEndian.PutUint32(raw[17:21], crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	return raw
}
