package producer

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestMaxBufferedBytesHolds protects the producer's byte bound with the
// broker black-holed, so nothing is acknowledged: 25 KB events are taken
// in until MaxBufferedBytes is reached, no further (before the bound
// existed, 10,000 such events were taken in, 266 MiB), and the heap grows
// by about the bound, never twice it. At the bound TryPublishAsync fails at once
// with ErrBufferFull, PublishAsync and Publish return when their ctx ends,
// and Close fails every buffered event and returns.
func TestMaxBufferedBytesHolds(t *testing.T) {
	const (
		bound   = 8 << 20
		size    = 25_000
		tooMany = 2_000 // 50 MB: far past the bound
	)
	e, g := startGatedEnv(t, map[string]int32{"big": 3})
	p := e.producer(t, MaxBufferedBytes(bound), DeliveryTimeout(time.Minute))
	t.Cleanup(func() { g.set(gateOpen) })
	bg := context.Background()
	pub, err := NewPublisher(bg, p, "big", codec[Payload](t, payloadAvsc))
	if err != nil {
		t.Fatal(err)
	}
	body := strings.Repeat("x", size)
	if _, err := pub.Publish(bg, Payload{Key: "k", Body: body}); err != nil {
		t.Fatalf("Publish before the black hole: %v", err)
	}
	g.set(gateBlackHole)

	before := heapInUse()
	var failed atomic.Int64
	done := func(_ Result, err error) {
		if errors.Is(err, ErrClosed) {
			failed.Add(1)
		}
	}
	taken := 0
	for ; taken < tooMany; taken++ {
		err := pub.TryPublishAsync(bg, Payload{Key: "k" + strconv.Itoa(taken), Body: body}, done)
		if errors.Is(err, ErrBufferFull) {
			break
		}
		if err != nil {
			t.Fatalf("TryPublishAsync %d: %v", taken, err)
		}
	}
	grew := heapInUse() - before
	held := p.slots.bytes.Load()
	t.Logf("taken in: %d events of %d B (%.1f MiB), counted %.1f MiB, at a %d MiB bound; heap grew %.1f MiB",
		taken, size, float64(taken*size)/(1<<20), float64(held)/(1<<20), bound>>20, float64(grew)/(1<<20))
	if taken == tooMany {
		t.Fatalf("TryPublishAsync took in %d events of %d B (%d MB) without ErrBufferFull at a %d MiB bound",
			taken, size, taken*size/1e6, bound>>20)
	}
	if held > bound || taken < bound/size/2 {
		t.Fatalf("took in %d events of %d B counted %d B, want about %d B worth", taken, size, held, bound)
	}
	// The heap measure is coarse (the broker runs in this process) and
	// franz-go's serialized requests come on top of the records: 8.0 to
	// 10.5 MiB here, against 50 MB and more without the bound.
	if grew > 2*bound {
		t.Fatalf("heap grew %d B with %d events buffered, over twice the %d B bound", grew, taken, bound)
	}

	for name, call := range map[string]func(ctx context.Context) error{
		"PublishAsync": func(ctx context.Context) error { return pub.PublishAsync(ctx, Payload{Key: "a", Body: body}, done) },
		"Publish":      func(ctx context.Context) error { _, err := pub.Publish(ctx, Payload{Key: "s", Body: body}); return err },
	} {
		ctx, cancel := context.WithTimeout(bg, 200*time.Millisecond)
		ch := make(chan error, 1)
		go func() { ch <- call(ctx) }()
		select {
		case err := <-ch:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("%s at the bound: %v, want its ctx's deadline", name, err)
			}
		case <-time.After(goneBound):
			t.Fatalf("%s at the bound still waiting %v after its ctx ended", name, goneBound)
		}
		cancel()
	}

	closed := make(chan struct{})
	go func() { p.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(goneBound):
		t.Fatalf("Close still waiting after %v", goneBound)
	}
	if n := failed.Load(); n != int64(taken) {
		t.Fatalf("%d of %d buffered events failed with ErrClosed", n, taken)
	}
}

// heapInUse returns the live heap after a collection (twice: the first
// clears sync.Pools into their victim caches, the second frees those).
func heapInUse() int {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return int(m.HeapAlloc)
}
