package consumer

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/internal/header"
	"github.com/ordo-go/ordo/partition"
	"github.com/ordo-go/ordo/schema"
)

// TestPlacementCheck: records of a topic stamped with a partition count
// other than the one earlier records carried are reported once, by a
// warning naming the topic, both counts and the first offset, in Stats and
// a metric; records whose key does not hash to their partition under their
// stamped count are counted as placement violations.
func TestPlacementCheck(t *testing.T) {
	f := newFixture(t, 1)
	stamp := func(s Step, n int) *kgo.Record {
		r := f.record(s)
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: header.Partitions, Value: []byte(strconv.Itoa(n))})
		return r
	}
	var recs []*kgo.Record
	misplaced := 0
	for i := range 3 { // offsets 0-2: one partition, correctly placed
		recs = append(recs, stamp(Step{Key: "key-" + strconv.Itoa(i), Seq: 1}, 1))
	}
	for i := range 6 { // offsets 3-8: stamped 4, yet all in partition 0
		k := "key-" + strconv.Itoa(i)
		if partition.For([]byte(k), 4) != 0 {
			misplaced++
		}
		if got := keyHasher.Partition(&kgo.Record{Key: []byte(k)}, 4); got != partition.For([]byte(k), 4) {
			t.Fatalf("keyHasher says %d for %s, partition.For %d", got, k, partition.For([]byte(k), 4))
		}
		recs = append(recs, stamp(Step{Key: k, Seq: int64(2 + i/3)}, 4))
	}
	recs = append(recs, f.record(Step{Key: "unstamped", Seq: 1})) // not checked
	if err := f.cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if misplaced == 0 {
		t.Fatal("test keys all hash to partition 0 under 4: pick others")
	}
	var logs syncBuffer
	c := f.consumer("placement", newRecorder(nil).handle, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	wait := runConsumer(t, c)
	waitFor(t, 10*time.Second, "every record", func() bool { return c.Stats().Handled == int64(len(recs)) })
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	st := c.Stats()
	if st.PartitionCountChanges != 1 || st.PlacementViolations != int64(misplaced) {
		t.Fatalf("stats = %+v, want 1 count change and %d placement violations", st, misplaced)
	}
	line := grepLine(logs.String(), "partition count changed")
	for _, want := range []string{"topic=steps", "old_count=1", "new_count=4", "offset=3"} {
		if !strings.Contains(line, want) {
			t.Fatalf("warning lacks %q: %s", want, line)
		}
	}
}

// BenchmarkCheckSeq: reading the ordo headers of a stamped record and the
// placement check allocate nothing. (The sequence check, in
// partition.Checker, is left out: its cost is its own.)
func BenchmarkCheckSeq(b *testing.B) {
	c, err := New(Brokers("127.0.0.1:1"), Group("g"), Topics("t"), Registry(mustRegistry(b)),
		On(mustCodec(b), func(context.Context, Step, Meta) error { return nil }), WithLogger(quiet))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	c.reb.assigned(context.Background(), c.cl, map[string][]int32{"t": {0}})
	ps := c.sched.parts[tp{"t", 0}]
	r := &kgo.Record{Topic: "t", Key: []byte("key-1"), Headers: []kgo.RecordHeader{
		{Key: header.Type, Value: []byte("ordo.test.Step")}, {Key: header.Seq, Value: make([]byte, 0, 20)},
		{Key: header.Partitions, Value: []byte("1")},
	}}
	it := &item{rec: r}
	b.ReportAllocs()
	c.sched.mu.Lock()
	defer c.sched.mu.Unlock()
	for i := 0; b.Loop(); i++ {
		it.hdr.seq, it.hdr.count = 0, 0
		r.Headers[1].Value = strconv.AppendInt(r.Headers[1].Value[:0], int64(i+1), 10)
		c.checks.readHeaders(ps, it)
		c.checks.checkSeq(ps, it)
	}
}

func mustRegistry(tb testing.TB) *schema.Registry {
	tb.Helper()
	reg, err := schema.NewRegistry([]string{"http://127.0.0.1:1"})
	if err != nil {
		tb.Fatal(err)
	}
	return reg
}

func mustCodec(tb testing.TB) *schema.Codec[Step] {
	tb.Helper()
	codec, err := schema.NewCodec[Step](stepSchema)
	if err != nil {
		tb.Fatal(err)
	}
	return codec
}
