package consumer

import (
	"context"
	"log/slog"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/internal/header"
	"github.com/ordo-go/ordo/schema"
)

// FuzzRecordHeaders feeds consumed records with arbitrary headers (ordo's
// own names with hostile values, duplicates, empty and huge values) to the
// one place the consumer reads them: the sequence, producer, event ID,
// partition-count and redrive headers. It must never panic, and the
// values it keeps must be the ones the headers say.
func FuzzRecordHeaders(f *testing.F) {
	f.Add([]byte("p1"), []byte("1"), []byte("6"), []byte("id"), []byte("k"), int32(0))
	f.Add([]byte(""), []byte("18446744073709551616"), []byte("-1"), []byte(""), []byte(""), int32(3))
	f.Add([]byte("\x00\xff"), []byte("99999999999999999999"), []byte("2147483648"), []byte("\n"), []byte("key"), int32(-1))
	reg, err := schema.NewRegistry([]string{"http://127.0.0.1:1"})
	if err != nil {
		f.Fatal(err)
	}
	codec, err := schema.NewCodec[Step](stepSchema)
	if err != nil {
		f.Fatal(err)
	}
	c, err := New(Brokers("127.0.0.1:1"), Group("fuzz"), Topics("t"), Registry(reg),
		On(codec, func(context.Context, Step, Meta) error { return nil }), WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(c.Close)
	c.reb.assigned(context.Background(), c.cl, map[string][]int32{"t": {0, 1, 2}})
	f.Fuzz(func(t *testing.T, producer, seq, count, id, key []byte, part int32) {
		r := &kgo.Record{Topic: "t", Partition: (part & 3) % 3, Key: key, Headers: []kgo.RecordHeader{
			{Key: header.Producer, Value: producer}, {Key: header.Seq, Value: seq},
			{Key: header.Partitions, Value: count}, {Key: header.ID, Value: id},
			{Key: header.Seq, Value: seq}, {Key: header.Redrives, Value: count},
		}}
		c.sched.mu.Lock()
		ps := c.sched.parts[tp{"t", r.Partition}]
		it := &item{rec: r}
		c.checks.readHeaders(ps, it)
		c.checks.checkSeq(ps, it)
		c.sched.mu.Unlock()
		if it.hdr.producer != string(producer) || it.hdr.seq != parseSeq(seq) {
			t.Fatalf("read producer %q seq %d from %q %q", it.hdr.producer, it.hdr.seq, producer, seq)
		}
		if got := meta(it, nil).EventID(); got != string(id) {
			t.Fatalf("EventID %q from %q", got, id)
		}
	})
}
