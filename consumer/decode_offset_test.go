package consumer

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ordo-go/ordo/schema"
)

// TestDecodeErrorOffsetReachesHook protects what an operator reads of a
// body that does not decode: the *RecordError names the record (topic,
// partition, offset) and its *schema.DecodeError says how far into the
// body decoding got. That was -1 for every record (issue 19).
func TestDecodeErrorOffsetReachesHook(t *testing.T) {
	f := newFixture(t, 1)
	framed, err := f.codec.AppendFramed(nil, f.id, &Step{Key: "key-000", Seq: 1})
	if err != nil {
		t.Fatal(err)
	}
	f.publish(1, 1)
	f.produceRaw("key-000", framed[:len(framed)-1]) // the body's last byte is missing
	var mu sync.Mutex
	var hooked []*RecordError
	rec := newRecorder(nil)
	c := f.consumer("offset", rec.handle, OnFailure(Skip), ErrorHook(func(_ context.Context, re *RecordError) {
		mu.Lock()
		hooked = append(hooked, re)
		mu.Unlock()
	}))
	wait := runConsumer(t, c)
	waitFor(t, 10*time.Second, "the bad record to be skipped", func() bool { return c.Stats().Skipped == 1 })
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	var de *schema.DecodeError
	if len(hooked) != 1 || !errors.As(hooked[0], &de) {
		t.Fatalf("hook saw %v, want one decode error", hooked)
	}
	re, body := hooked[0], len(framed)-schema.HeaderSize-1
	if re.Topic != f.topic || re.Partition != 0 || re.Offset != 1 || re.Stage != StageDecode {
		t.Fatalf("record error %v names %s/%d@%d at stage %v, want %s/0@1 at decode", re, re.Topic, re.Partition, re.Offset, re.Stage, f.topic)
	}
	if de.Offset != body {
		t.Fatalf("DecodeError.Offset = %d (%v), want %d: the end of the %d-byte body", de.Offset, de, body, body)
	}
}
