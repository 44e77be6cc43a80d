package peers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/ordo-go/ordo/schema"
)

// side is one SDK's way of publishing and consuming the records.
type side struct {
	name string
	// publish publishes records 0..n-1 to topic and returns when the
	// broker has acknowledged all of them; it calls m.begin just before
	// the first record.
	publish func(tb testing.TB, e *env, topic string, n int, m *meter)
	// consume reads topic from its start in group, decoding every record
	// into m.seen, and returns when m has seen its n; it calls m.begin
	// just before it builds its consumer.
	consume func(tb testing.TB, e *env, topic, group string, m *meter)
}

var sides = []side{
	{"ordo", ordoPublish, ordoConsume},
	{"confluent", confluentPublish, confluentConsume},
	{"watermill", watermillPublish, watermillConsume},
}

// BenchmarkPublish/{ordo,confluent,watermill}: each iteration is one
// record (run with -benchtime Nx); each run on a fresh broker. rec/s is
// the rate from the first record handed over to the last acknowledged.
func BenchmarkPublish(b *testing.B) {
	for _, s := range sides {
		b.Run(s.name, func(b *testing.B) {
			e := startEnv(b, "payloads")
			m := newMeter(b.N, nil)
			b.ReportAllocs()
			b.ResetTimer()
			s.publish(b, e, "payloads", b.N, m)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/m.end.Sub(m.start).Seconds(), "rec/s")
		})
	}
}

// BenchmarkConsume/{ordo,confluent,watermill}: each iteration is one
// record (run with -benchtime Nx). A fresh broker is filled with b.N
// records by ordo's producer, untimed; then the side reads them all from
// the start in a group of its own. steady-rec/s runs from the record at
// b.N/4 to the last (the join and the first fetches left out),
// join-rec/s from the start of the consumer.
func BenchmarkConsume(b *testing.B) {
	for _, s := range sides {
		b.Run(s.name, func(b *testing.B) {
			e := startEnv(b, "payloads")
			e.fill(b, "payloads", b.N)
			m := newMeter(b.N, nil)
			b.ReportAllocs()
			b.ResetTimer()
			s.consume(b, e, "payloads", s.name, m)
			b.StopTimer()
			b.ReportMetric(float64(int64(b.N)-m.markAt)/m.end.Sub(m.mark).Seconds(), "steady-rec/s")
			b.ReportMetric(float64(b.N)/m.end.Sub(m.start).Seconds(), "join-rec/s")
		})
	}
}

// TestRoundTrip protects the benchmarks: every side's publish path writes
// records that read back exactly (keys, bodies, Confluent framing with the
// registered ID) and every side's consume path decodes exactly the records
// ordo wrote, none missing, none twice. A side that silently drops,
// duplicates or misdecodes would make its benchmark measure something
// else.
func TestRoundTrip(t *testing.T) {
	const n = 60 // some keys on every partition
	for _, s := range sides {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			e := startEnv(t, "published", "filled")
			s.publish(t, e, "published", n, &meter{})
			if got := readBack(t, e, "published", n); !samePayloads(got, records(n)) {
				t.Errorf("%s published %v,\nwant %v", s.name, got, records(n))
			}
			e.fill(t, "filled", n)
			var mu sync.Mutex
			var got []Payload
			m := newMeter(n, func(p *Payload) { mu.Lock(); got = append(got, *p); mu.Unlock() })
			s.consume(t, e, "filled", "g-"+s.name, m)
			mu.Lock()
			defer mu.Unlock()
			if !samePayloads(got, records(n)) {
				t.Errorf("%s consumed %v,\nwant %v", s.name, got, records(n))
			}
		})
	}
}

func records(n int) []Payload {
	r := make([]Payload, n)
	for i := range r {
		r[i] = record(i)
	}
	return r
}

// samePayloads reports whether a and b hold the same records, in any order.
func samePayloads(a, b []Payload) bool {
	cmp := func(x, y Payload) int {
		if c := strings.Compare(x.Key, y.Key); c != 0 {
			return c
		}
		return int(x.Seq - y.Seq)
	}
	a, b = slices.Clone(a), slices.Clone(b)
	slices.SortFunc(a, cmp)
	slices.SortFunc(b, cmp)
	return slices.Equal(a, b)
}

// readBack reads n records of topic with a plain franz-go client and
// decodes each with the codec, checking each frame's ID names the payload
// schema in the registry (a side may register its own rendering of the
// schema text, which srfake, comparing text, files under a new ID).
func readBack(t *testing.T, e *env, topic string, n int) []Payload {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reg, err := sr.NewClient(sr.URLs(e.cluster.RegistryURL()))
	if err != nil {
		t.Fatal(err)
	}
	ids := make(map[int]bool)
	payloadID := func(id int) bool {
		ok, seen := ids[id]
		if !seen {
			s, err := reg.SchemaByID(ctx, id)
			if err != nil {
				t.Fatalf("schema %d: %v", id, err)
			}
			w, err := avro.Parse(s.Schema)
			ok = err == nil && w.Fingerprint() == payloadAvro.Fingerprint()
			ids[id] = ok
		}
		return ok
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.cluster.Brokers()...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got []Payload
	for len(got) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %d of %d records: %v", len(got), n, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Errorf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			id, body, err := schema.Unframe(r.Value)
			if err != nil || !payloadID(id) {
				t.Fatalf("record %s/%d@%d: schema %d, not the payload's (%v)", r.Topic, r.Partition, r.Offset, id, err)
			}
			var p Payload
			if err := e.codec.Decode(body, &p); err != nil {
				t.Fatalf("record %s/%d@%d: %v", r.Topic, r.Partition, r.Offset, err)
			}
			if string(r.Key) != p.Key {
				t.Errorf("record %s/%d@%d: key %q, body's key %q", r.Topic, r.Partition, r.Offset, r.Key, p.Key)
			}
			got = append(got, p)
		})
	}
	return got
}

// decodeFramed unframes v, checks that its schema ID is id and decodes the
// body with codec: what a service without a registry-aware deserializer
// does with a single event type.
func decodeFramed(codec *schema.Codec[Payload], id int, v []byte) (Payload, error) {
	var p Payload
	got, body, err := schema.Unframe(v)
	if err != nil {
		return p, err
	}
	if got != id {
		return p, fmt.Errorf("schema ID %d, want %d", got, id)
	}
	return p, codec.Decode(body, &p)
}
