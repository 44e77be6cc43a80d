package producer

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/ordo-go/ordo/internal/header"
)

// TestSeqOrderIsWriteOrder protects the per-key promise under concurrency:
// with many goroutines publishing the same keys at once, each key's
// records are written with ordo-seq 1, 2, 3, ... in offset order, with no
// gap and no regression. It fails if stamping and handing to kgo are not
// atomic per key.
func TestSeqOrderIsWriteOrder(t *testing.T) {
	e := startEnv(t, map[string]int32{"orders": 3})
	p := e.producer(t, MaxBufferedRecords(64))
	ctx := context.Background()
	pub, err := NewPublisher(ctx, p, "orders", codec[Created](t, createdAvsc))
	if err != nil {
		t.Fatal(err)
	}
	const goroutines, perG, keys = 8, 150, 5
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			var done sync.WaitGroup
			for i := range perG {
				done.Add(1)
				ev := Created{OrderID: fmt.Sprint("k", (g+i)%keys), Amount: int64(g*perG + i)}
				err := pub.PublishAsync(ctx, ev, func(_ Result, err error) {
					if err != nil {
						t.Error(err)
					}
					done.Done()
				})
				if err != nil {
					t.Error(err)
					done.Done()
				}
			}
			done.Wait()
		})
	}
	wg.Wait()
	last := map[string]uint64{}
	for _, r := range e.readAll(t, "orders", goroutines*perG) {
		s, _ := header.Get(r.Headers, header.Seq)
		seq, err := strconv.ParseUint(s, 10, 64)
		k := string(r.Key)
		if err != nil || seq != last[k]+1 {
			t.Fatalf("key %s at offset %d: seq %q after %d", k, r.Offset, s, last[k])
		}
		last[k] = seq
	}
}
