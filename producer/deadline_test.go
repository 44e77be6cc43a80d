package producer

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestDeadlineBoundsOnlyItsCaller protects callers from each other: while
// the topic's partitions are still unknown (its first metadata answer is
// held back), one Publish with a short deadline and one with none are
// buffered together. The first returns its deadline error; the second
// must still succeed once metadata arrives. franz-go fails every record
// buffered for an unknown topic when the ctx given with the first one
// ends, so the producer must not hand it a caller's ctx.
func TestDeadlineBoundsOnlyItsCaller(t *testing.T) {
	e := startEnv(t, map[string]int32{"orders": 1})
	p := e.producer(t)
	bg := context.Background()
	pub, err := NewPublisher(bg, p, "orders", codec[Created](t, createdAvsc))
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(release) }) }
	t.Cleanup(open)
	kc := e.c.Kafka()
	kc.ControlKey(int16(kmsg.Metadata), func(kmsg.Request) (kmsg.Response, error, bool) {
		kc.SleepControl(func() { <-release })
		return nil, nil, false // then answer as usual
	})

	short, cancel := context.WithTimeout(bg, 300*time.Millisecond)
	defer cancel()
	first := make(chan error, 1)
	go func() { _, err := pub.Publish(short, Created{"a", 1}); first <- err }()
	time.Sleep(50 * time.Millisecond) // a's record is buffered first
	second := make(chan error, 1)
	go func() { _, err := pub.Publish(bg, Created{"b", 2}); second <- err }()

	if err := <-first; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("short deadline: %v, want DeadlineExceeded", err)
	}
	time.Sleep(100 * time.Millisecond) // b waits on past a's deadline
	open()
	select {
	case err := <-second:
		if err != nil {
			t.Fatalf("Publish without deadline failed by another caller's deadline: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Publish without deadline did not finish")
	}
	// a's record was handed over before its caller stopped waiting: it
	// may be (and here is) written.
	e.readAll(t, "orders", 2)
}
