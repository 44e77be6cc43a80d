package partition

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/ordo-go/ordo/internal/telemetry"
)

// TestGuard protects the promise that a change of partition count is
// noticed and keeps being refused until accepted.
func TestGuard(t *testing.T) {
	var g Guard
	if err := g.Check("orders", 6); err != nil {
		t.Fatalf("first sight: %v", err)
	}
	if err := g.Check("orders", 6); err != nil {
		t.Fatalf("same count: %v", err)
	}
	err := g.Check("orders", 12)
	var ce *CountChangedError
	if !errors.As(err, &ce) || !errors.Is(err, ErrCountChanged) {
		t.Fatalf("changed count: err = %v, want *CountChangedError", err)
	}
	if ce.Topic != "orders" || ce.Was != 6 || ce.Now != 12 {
		t.Fatalf("error fields = %+v", ce)
	}
	if err := g.Check("orders", 12); err == nil {
		t.Fatal("a refused change must stay refused until accepted")
	}
	if err := g.Check("payments", 3); err != nil {
		t.Fatalf("other topic: %v", err)
	}
	g.Accept("orders", 12)
	if err := g.Check("orders", 12); err != nil {
		t.Fatalf("after Accept: %v", err)
	}
	if n, ok := g.Count("orders"); !ok || n != 12 {
		t.Fatalf("Count = %d, %v", n, ok)
	}
}

func TestGuardConcurrent(t *testing.T) {
	var g Guard
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 1000; j++ {
				if err := g.Check("t", 4); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestCountChangedErrorClass protects the label both sides' telemetry give
// a count change: the error names its own class, so the shared classifier
// says partition_count_changed however it is wrapped, without each side
// listing the sentinel.
func TestCountChangedErrorClass(t *testing.T) {
	err := fmt.Errorf("publish: %w", &CountChangedError{Topic: "t", Was: 3, Now: 6})
	if got := telemetry.ErrorClass(err); got != "partition_count_changed" {
		t.Fatalf("ErrorClass = %q, want partition_count_changed", got)
	}
}
