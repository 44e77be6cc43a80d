package consumer

import (
	"context"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// spans records when each handler call of each key started and ended, on
// whichever member ran it.
type spans struct {
	mu   sync.Mutex
	runs map[string][][2]time.Time
	done map[string]int // calls that returned nil, per key
	// release ends every running and later call (honouring ctx or
	// not) once the test has seen what it waits for.
	release chan struct{}
}

func (s *spans) handler(slow time.Duration, honour bool) Handler[Step] {
	return func(ctx context.Context, st Step, m Meta) error {
		start := time.Now()
		// A handler runs until the test has seen the revoke (release),
		// or at most slow: on a busy machine the second member's join
		// can take longer than any fixed handler time.
		if honour {
			select {
			case <-time.After(slow):
			case <-s.release:
			case <-ctx.Done():
			}
		} else {
			select {
			case <-time.After(slow):
			case <-s.release:
			}
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.runs[st.Key] = append(s.runs[st.Key], [2]time.Time{start, time.Now()})
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.done[st.Key]++
		return nil
	}
}

// overlaps returns the keys whose calls overlapped in time.
func (s *spans) overlaps() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k, runs := range s.runs {
		sort.Slice(runs, func(i, j int) bool { return runs[i][0].Before(runs[j][0]) })
		for i := 1; i < len(runs); i++ {
			if runs[i][0].Before(runs[i-1][1]) {
				out = append(out, k)
				break
			}
		}
	}
	return out
}

// TestRevokeCancelsSlowHandlers: per-key order across a rebalance. A
// handler that outlives the drain timeout on a revoked partition is
// cancelled (its ctx used to stay alive), and the revoke waits for it, so
// the partition's next owner never runs the same key at the same time.
// A handler that ignores its ctx is logged and counted as handed over.
func TestRevokeCancelsSlowHandlers(t *testing.T) { forEachProtocol(t, testRevokeCancelsSlowHandlers) }

func testRevokeCancelsSlowHandlers(t *testing.T, proto Protocol) {
	for _, honour := range []bool{true, false} {
		name := "honours ctx"
		if !honour {
			name = "ignores ctx"
		}
		t.Run(name, func(t *testing.T) {
			const keys = 8
			f := newFixture(t, 2)
			f.protocol = proto
			f.publish(keys, 2)
			s := &spans{runs: map[string][][2]time.Time{}, done: map[string]int{}, release: make(chan struct{})}
			const slow = 30 * time.Second
			var logs syncBuffer
			opts := []Option{Concurrency(16), DrainTimeout(200 * time.Millisecond),
				WithLogger(slog.New(slog.NewTextHandler(&logs, nil)))}
			a := f.consumer("revoke", s.handler(slow, honour), opts...)
			waitA := runConsumer(t, a)
			waitFor(t, 10*time.Second, "the first member to start every key", func() bool {
				return a.Stats().Fetched == 2*keys
			})
			time.Sleep(100 * time.Millisecond)
			b := f.consumer("revoke", s.handler(slow, honour), opts...)
			waitB := runConsumer(t, b)
			waitFor(t, 60*time.Second, "the revoke to cancel or hand over a running handler", func() bool {
				st := a.Stats()
				return st.Abandoned+st.HandedOver > 0
			})
			close(s.release)
			waitFor(t, 90*time.Second, "every record handled", func() bool {
				s.mu.Lock()
				defer s.mu.Unlock()
				n := 0
				for _, d := range s.done {
					n += min(d, 2)
				}
				return n == 2*keys
			})
			a.Close()
			b.Close()
			for _, w := range []func() error{waitA, waitB} {
				if err := w(); err != nil {
					t.Fatal(err)
				}
			}
			handedOver := a.Stats().HandedOver + b.Stats().HandedOver
			if honour {
				if ov := s.overlaps(); len(ov) > 0 {
					t.Fatalf("keys %v ran on both members at once", ov)
				}
				if handedOver != 0 {
					t.Fatalf("%d handlers handed over though they honour ctx", handedOver)
				}
				if a.Stats().Abandoned == 0 {
					t.Fatal("no handler was cancelled: the rebalance did not revoke busy partitions")
				}
				return
			}
			if handedOver == 0 || !strings.Contains(logs.String(), "handed over") {
				t.Fatalf("handlers ignoring ctx were not reported: handed over %d", handedOver)
			}
		})
	}
}
