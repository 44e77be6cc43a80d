package consumer

import (
	"context"
	"testing"
)

// TestHandleAllocs guards the handler binding's cost per record: calling
// a handler registered with On, without middleware, allocates no more
// than decoding its event does. A closure over the event and its Meta in
// the binding (even on the middleware path only) moved both to the heap
// for every record: two more allocations, ~200 bytes (issue 20).
func TestHandleAllocs(t *testing.T) {
	f := newFixture(t, 1)
	ctx := context.Background()
	w, err := f.reg.Writer(ctx, f.id)
	if err != nil {
		t.Fatal(err)
	}
	body, err := f.codec.AppendEncode(nil, &Step{Key: "key-1", Seq: 7})
	if err != nil {
		t.Fatal(err)
	}
	var cfg config
	On(f.codec, func(context.Context, Step, Meta) error { return nil }).apply(&cfg)
	b := cfg.handlers[0]
	m := Meta{Topic: f.topic, Key: []byte("key-1"), Producer: "p", Seq: 7}
	decode := testing.AllocsPerRun(1000, func() {
		var s Step
		if err := f.codec.DecodeFrom(w, body, &s); err != nil {
			t.Fatal(err)
		}
	})
	handle := testing.AllocsPerRun(1000, func() {
		if decErr, hErr := b.handle(ctx, w, body, m, nil); decErr != nil || hErr != nil {
			t.Fatal(decErr, hErr)
		}
	})
	if handle > decode {
		t.Fatalf("a handled record allocates %v times, decoding its event %v: the binding adds %v", handle, decode, handle-decode)
	}
}
