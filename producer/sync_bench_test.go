package producer

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkSyncPublish measures a request-path service's publish: one
// synchronous Publish after another, each waiting for its
// acknowledgement, 100 per op. With franz-go's 10 ms linger every call
// waited for the linger before its batch was sent (100 calls: ~1.07 s);
// ordo's default no longer lingers ([DefaultLinger] is 0), so the default
// must be as fast as an explicit Linger(0), and an explicit Linger(10ms)
// shows what the old default cost.
func BenchmarkSyncPublish(b *testing.B) {
	for _, c := range []struct {
		name string
		opts []Option
	}{
		{"default", nil},
		{"linger=0", []Option{Linger(0)}},
		{"linger=10ms", []Option{Linger(10 * time.Millisecond)}},
	} {
		b.Run(c.name, func(b *testing.B) { benchSync(b, c.opts...) })
	}
}

func benchSync(b *testing.B, opts ...Option) {
	const topic = "orders"
	e := startEnv(b, map[string]int32{topic: 6})
	// Not e.producer: it sets Linger(0) for the tests' speed.
	p, err := New(append([]Option{Brokers(e.c.Brokers()...), Registry(e.reg)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	pub, err := NewPublisher(ctx, p, topic, codec[Created](b, createdAvsc))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		for range 100 {
			if _, err := pub.Publish(ctx, Created{fmt.Sprint("order-", i%64), int64(i)}); err != nil {
				b.Fatal(err)
			}
			i++
		}
	}
}

// TestDefaultNoLinger guards the fix for issue #14: a producer built with
// default options must not linger, or every synchronous Publish waits the
// linger out (franz-go's default is 10 ms).
func TestDefaultNoLinger(t *testing.T) {
	e := startEnv(t, nil)
	p, err := New(Brokers(e.c.Brokers()...), Registry(e.reg))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if got := p.cl.OptValue(kgo.ProducerLinger); got != time.Duration(0) {
		t.Fatalf("default linger = %v, want 0", got)
	}
	p2, err := New(Brokers(e.c.Brokers()...), Registry(e.reg), Linger(5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	if got := p2.cl.OptValue(kgo.ProducerLinger); got != 5*time.Millisecond {
		t.Fatalf("Linger(5ms) = %v, want 5ms", got)
	}
}
