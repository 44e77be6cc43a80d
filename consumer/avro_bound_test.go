package consumer

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/internal/header"
	"github.com/ordo-go/ordo/schema"
)

// stepV2 is Step after a compatible deploy that added a list of tags and
// a field of type null (valid Avro; the gate accepts both).
type stepV2 struct {
	Key     string   `avro:"key"`
	Seq     int64    `avro:"seq"`
	Tags    []string `avro:"tags"`
	Nothing struct{} `avro:"nothing"`
}

const stepV2Schema = `{"type":"record","name":"Step","namespace":"ordo.test","fields":[
	{"name":"key","type":"string"},{"name":"seq","type":"long"},
	{"name":"tags","type":{"type":"array","items":"string"},"default":[]},
	{"name":"nothing","type":"null","default":null}]}`

// TestV2BodiesNeitherHangNorPoison: issue 19 end to end, a v1 consumer
// reading v2 records. A v2 record with its null field is handled (it was
// poison: "schema type null is unsupported"), and the 20-byte v2 record
// whose tags declare 2^40 items and carry none is poison at once (it
// looped 2^40 times in the skip decoder: its lane hung, the commit never
// passed it and Close blocked). The key's later record is handled after
// it, the commit passes it, and Run returns.
func TestV2BodiesNeitherHangNorPoison(t *testing.T) {
	f := newFixture(t, 1)
	ctx := context.Background()
	v2, err := schema.NewCodec[stepV2](stepV2Schema)
	if err != nil {
		t.Fatal(err)
	}
	id2, err := f.reg.Register(ctx, f.topic+"-value", v2.Schema())
	if err != nil {
		t.Fatal(err)
	}
	frame := func(s stepV2) []byte {
		b, err := v2.AppendFramed(nil, id2, &s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	lying := frame(stepV2{Key: "key-000", Seq: 3})
	// Replace the empty tags' end-of-array (0) with a count of 2^40.
	lying = append(lying[:len(lying)-1], 0x80, 0x80, 0x80, 0x80, 0x80, 0x40)
	if len(lying) != 20 {
		t.Fatalf("lying record is %d bytes, want 20", len(lying))
	}
	f.publish(1, 1) // offset 0: v1, seq 1
	for i, v := range [][]byte{frame(stepV2{Key: "key-000", Seq: 2, Tags: []string{"x"}}), lying, frame(stepV2{Key: "key-000", Seq: 4})} {
		rec := &kgo.Record{Key: []byte("key-000"), Value: v, Headers: []kgo.RecordHeader{{Key: header.Type, Value: []byte(v2.Name())}}}
		if err := f.cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
			t.Fatalf("offset %d: %v", i+1, err)
		}
	}
	var hooked atomic.Pointer[RecordError]
	rec := newRecorder(nil)
	c := f.consumer("v2", rec.handle, OnFailure(Skip),
		ErrorHook(func(_ context.Context, re *RecordError) { hooked.Store(re) }))
	wait := runConsumer(t, c)
	waitFor(t, 20*time.Second, "commit past the lying record", func() bool { return f.committed("v2")[0] == 4 })
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	seqs := slices.Clone(rec.seqs["key-000"])
	rec.mu.Unlock()
	if !slices.Equal(seqs, []int64{1, 2, 4}) {
		t.Fatalf("handled seqs %v, want [1 2 4]", seqs)
	}
	re := hooked.Load()
	var de *schema.DecodeError
	if re == nil || re.Stage != StageDecode || re.Offset != 2 || !errors.As(re, &de) {
		t.Fatalf("hook saw %v, want a decode error at offset 2", re)
	}
}
