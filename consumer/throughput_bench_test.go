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
// Each reports three rates, over the same run:
//
//	whole-rec/s   from the first record handled to the last: no part of
//	              the run left out (issue 20's figure, and its goals)
//	steady-rec/s  from the record after the first quarter to the last: the
//	              join's prefetch burst and the first fetches left out
//	              (issue 15's figure)
//	join-rec/s    from the consumer's start (the group join included)
//	cpu-ns/rec    the process's CPU time (user and system) per record from
//	              the consumer's start to the last record: on a machine
//	              shared with other work it varies far less than the
//	              rates, and the embedded broker's share is in it for
//	              both sides alike
//
// raw-noheaders and ordo-noheaders consume the same records without
// ordo's headers, as a service fed by another producer sees them (raw
// then reads no header, and kgo decodes none).

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

func newBenchFixture(b *testing.B, n int) *benchFixture { return newBenchFixtureHeaders(b, n, true) }

// newBenchFixtureHeaders is newBenchFixture, its records with ordo's
// headers or without any.
func newBenchFixtureHeaders(b *testing.B, n int, headers bool) *benchFixture {
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
	bf.fill(b, n, headers)
	return bf
}

// fill publishes n records, keys in turn, each key's seq counting up,
// partitioned by key hash as ordo's producer does; with ordo's headers,
// or none.
func (f *benchFixture) fill(b *testing.B, n int, headers bool) {
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
			recs[i] = &kgo.Record{Key: []byte(p.Key), Value: v}
			if !headers {
				continue
			}
			recs[i].Headers = []kgo.RecordHeader{
				{Key: header.Type, Value: typ},
				{Key: header.ID, Value: []byte(uuid.NewString())},
				{Key: header.Producer, Value: []byte(producer)},
				{Key: header.Seq, Value: []byte(strconv.FormatInt(p.Seq, 10))},
				{Key: header.Partitions, Value: parts},
			}
		}
		if err := f.cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			b.Fatal(err)
		}
		done += m
	}
}

// rates times a run of n records, on the monotonic clock: start when
// the consumer starts, first and last when the first and the n-th record
// are handled, mark when the record after the first quarter is. Safe for
// the lanes to call seen at once.
type rates struct {
	base              time.Time
	cpu               time.Duration // the process's CPU time at base
	n, markAt         int64
	seenN             atomic.Int64
	first, mark, last atomic.Int64 // since base, in ns
}

func newRates(b *testing.B) *rates {
	return &rates{base: time.Now(), cpu: processCPU(b), n: int64(b.N), markAt: int64(b.N/4 + 1)}
}

// seen counts a handled record; it reports whether it was the last.
func (r *rates) seen() bool {
	i := r.seenN.Add(1)
	switch i {
	case 1:
		r.first.Store(int64(time.Since(r.base)))
	case r.markAt:
		r.mark.Store(int64(time.Since(r.base)))
	}
	if i == r.n {
		r.last.Store(int64(time.Since(r.base)))
		return true
	}
	return false
}

func (r *rates) report(b *testing.B) {
	cpu := processCPU(b) - r.cpu
	last := r.last.Load()
	per := func(n, from int64) float64 { return float64(n) / time.Duration(last-from).Seconds() }
	b.ReportMetric(per(r.n, r.first.Load()), "whole-rec/s")
	b.ReportMetric(per(r.n-r.markAt, r.mark.Load()), "steady-rec/s")
	b.ReportMetric(per(r.n, 0), "join-rec/s")
	b.ReportMetric(float64(cpu)/float64(r.n), "cpu-ns/rec")
}

// BenchmarkThroughput: raw is a franz-go group consumer polling, reading
// ordo's headers, unframing and decoding each record, marking what it
// polled for autocommit; ordo is the consumer with its defaults. The
// -noheaders variants consume records without ordo's headers.
// Run with -benchtime Nx: each iteration is one record.
func BenchmarkThroughput(b *testing.B) {
	for _, headers := range []bool{true, false} {
		suffix := ""
		if !headers {
			suffix = "-noheaders"
		}
		b.Run("raw"+suffix, func(b *testing.B) {
			f := newBenchFixtureHeaders(b, b.N, headers)
			b.ReportAllocs()
			b.ResetTimer()
			rawConsume(b, f.cluster.Brokers(), f.topic, f.codec, f.id)
		})
		b.Run("ordo"+suffix, func(b *testing.B) {
			f := newBenchFixtureHeaders(b, b.N, headers)
			b.ReportAllocs()
			b.ResetTimer()
			ordoConsume(b, f.cluster.Brokers(), f.topic, f.reg, f.codec)
		})
	}
}

// rawConsume runs the raw side: a franz-go group consumer of topic that
// reads ordo's seq header, unframes and decodes, and marks what it polled
// for autocommit, until b.N records are handled; it reports the rates.
func rawConsume(b *testing.B, brokers []string, topic string, codec *schema.Codec[Payload], id int) {
	r := newRates(b)
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumerGroup("raw"),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.AutoCommitMarks())
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	var seqSum uint64
	for done := false; !done; {
		fs := cl.PollFetches(context.Background())
		fs.EachRecord(func(rec *kgo.Record) {
			if done {
				return
			}
			for _, h := range rec.Headers { // what a service reads of ordo's headers
				if h.Key == header.Seq {
					seqSum += parseSeq(h.Value)
				}
			}
			got, body, err := schema.Unframe(rec.Value)
			if err != nil || got != id {
				b.Fatal(err)
			}
			var p Payload
			if err := codec.Decode(body, &p); err != nil {
				b.Fatal(err)
			}
			done = r.seen()
		})
		cl.MarkCommitRecords(fs.Records()...)
	}
	r.report(b)
	b.StopTimer()
}

// ordoConsume runs ordo's side: a consumer with its defaults, until b.N
// records are handled; it reports the rates.
func ordoConsume(b *testing.B, brokers []string, topic string, reg *schema.Registry, codec *schema.Codec[Payload]) {
	r := newRates(b)
	done := make(chan struct{})
	c, err := New(Brokers(brokers...), Group("ordo"), Topics(topic), Registry(reg),
		WithLogger(quiet), On(codec, func(_ context.Context, p Payload, _ Meta) error {
			if r.seen() {
				close(done)
			}
			return nil
		}))
	if err != nil {
		b.Fatal(err)
	}
	go c.Run(context.Background())
	<-done
	r.report(b)
	b.StopTimer()
	c.Close()
}
