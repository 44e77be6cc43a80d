package consumer

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/internal/header"
	"github.com/ordo-go/ordo/schema"
)

// The throughput benchmarks of issue 15: ordo's consumer against a raw
// franz-go poll loop on the same records, as .ci/bench.sh runs them
// (interleaved rounds, one process per run, the ratio's median and range).
// Each record is what ordo's producer writes: a ~100-byte framed Avro body
// and all of ordo's headers (type, id, producer, seq, partitions), over
// 10,000 keys placed by the key's hash on 6 partitions. Both sides unframe
// and decode every record.
//
// Each reports two rates: steady-rec/s from the first record handled to
// the last (the group join excluded), and join-rec/s from the start of the
// consumer (the join included).

// Payload is the benchmarks' event: ~100 bytes framed.
type Payload struct {
	Key  string `avro:"key"`
	Seq  int64  `avro:"seq"`
	Body string `avro:"body"`
}

const payloadSchema = `{"type":"record","name":"Payload","namespace":"ordo.bench","fields":[
	{"name":"key","type":"string"},{"name":"seq","type":"long"},{"name":"body","type":"string"}]}`

const (
	benchKeys       = 10_000
	benchPartitions = 6
)

// benchFixture is a fixture whose topic holds n Payload records.
type benchFixture struct {
	*fixture
	codec *schema.Codec[Payload]
	id    int
}

func newBenchFixture(b *testing.B, n int) *benchFixture {
	b.Helper()
	f := newFixture(b, benchPartitions)
	codec, err := schema.NewCodec[Payload](payloadSchema)
	if err != nil {
		b.Fatal(err)
	}
	id, err := f.reg.Register(context.Background(), "bench-payload", codec.Schema())
	if err != nil {
		b.Fatal(err)
	}
	bf := &benchFixture{fixture: f, codec: codec, id: id}
	bf.fill(b, n)
	return bf
}

// fill publishes n records, keys in turn, each key's seq counting up,
// partitioned by key hash as ordo's producer does.
func (f *benchFixture) fill(b *testing.B, n int) {
	b.Helper()
	body := strings.Repeat("x", 64)
	producer := uuid.NewString()
	typ := []byte(f.codec.Name())
	parts := []byte(strconv.Itoa(benchPartitions))
	const batch = 5000
	for done := 0; done < n; {
		m := min(batch, n-done)
		recs := make([]*kgo.Record, m)
		for i := range recs {
			k := (done + i) % benchKeys
			p := Payload{Key: "key-" + strconv.Itoa(k), Seq: int64((done+i)/benchKeys + 1), Body: body}
			v, err := f.codec.AppendFramed(nil, f.id, &p)
			if err != nil {
				b.Fatal(err)
			}
			recs[i] = &kgo.Record{Key: []byte(p.Key), Value: v, Headers: []kgo.RecordHeader{
				{Key: header.Type, Value: typ},
				{Key: header.ID, Value: []byte(uuid.NewString())},
				{Key: header.Producer, Value: []byte(producer)},
				{Key: header.Seq, Value: []byte(strconv.FormatInt(p.Seq, 10))},
				{Key: header.Partitions, Value: parts},
			}}
		}
		if err := f.cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			b.Fatal(err)
		}
		done += m
	}
}

// rates times a run: start when the consumer starts; mark when the
// first quarter of the records is handled, so the steady rate leaves out
// the join and the first fetches' burst (kgo prefetches during the join);
// the end at the b.N-th record.
type rates struct {
	start, mark time.Time
	seenN       atomic.Int64
	markAt      int64
}

func (r *rates) seen() {
	if r.seenN.Add(1) == r.markAt {
		r.mark = time.Now()
	}
}

func (r *rates) report(b *testing.B) {
	end := time.Now()
	b.ReportMetric(float64(int64(b.N)-r.markAt)/end.Sub(r.mark).Seconds(), "steady-rec/s")
	b.ReportMetric(float64(b.N)/end.Sub(r.start).Seconds(), "join-rec/s")
}

// BenchmarkThroughput: raw is a franz-go group consumer polling, reading
// ordo's headers, unframing and decoding each record, marking what it
// polled for autocommit; ordo is the consumer with its defaults.
// Run with -benchtime Nx: each iteration is one record.
func BenchmarkThroughput(b *testing.B) {
	b.Run("raw", func(b *testing.B) {
		f := newBenchFixture(b, b.N)
		b.ReportAllocs()
		b.ResetTimer()
		r := rates{start: time.Now(), markAt: int64(b.N/4 + 1)}
		cl, err := kgo.NewClient(kgo.SeedBrokers(f.cluster.Brokers()...), kgo.ConsumerGroup("raw"),
			kgo.ConsumeTopics(f.topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.AutoCommitMarks())
		if err != nil {
			b.Fatal(err)
		}
		defer cl.Close()
		var seqSum uint64
		for n := 0; n < b.N; {
			fs := cl.PollFetches(context.Background())
			fs.EachRecord(func(rec *kgo.Record) {
				r.seen()
				for _, h := range rec.Headers { // what a service reads of ordo's headers
					if h.Key == header.Seq {
						seqSum += parseSeq(h.Value)
					}
				}
				id, body, err := schema.Unframe(rec.Value)
				if err != nil || id != f.id {
					b.Fatal(err)
				}
				var p Payload
				if err := f.codec.Decode(body, &p); err != nil {
					b.Fatal(err)
				}
				n++
			})
			cl.MarkCommitRecords(fs.Records()...)
		}
		r.report(b)
		b.StopTimer()
	})
	b.Run("ordo", func(b *testing.B) {
		f := newBenchFixture(b, b.N)
		var n atomic.Int64
		done := make(chan struct{})
		r := rates{markAt: int64(b.N/4 + 1)}
		c, err := New(Brokers(f.cluster.Brokers()...), Group("ordo"), Topics(f.topic), Registry(f.reg),
			WithLogger(quiet), On(f.codec, func(_ context.Context, p Payload, _ Meta) error {
				r.seen()
				if n.Add(1) == int64(b.N) {
					close(done)
				}
				return nil
			}))
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		r.start = time.Now()
		go c.Run(context.Background())
		<-done
		r.report(b)
		b.StopTimer()
		c.Close()
	})
}
