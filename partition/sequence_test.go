package partition

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func TestStamper(t *testing.T) {
	s := NewStamper(0)
	for want := uint64(1); want <= 3; want++ {
		if got := s.Next([]byte("a")); got != want {
			t.Fatalf("Next(a) = %d, want %d", got, want)
		}
	}
	if got := s.Next([]byte("b")); got != 1 {
		t.Fatalf("Next(b) = %d, want 1: keys must count separately", got)
	}
}

// TestStamperBounded protects the memory bound: a forgotten key restarts at
// 1, and the checker reads that as a restart, not a violation.
func TestStamperBounded(t *testing.T) {
	s := NewStamper(2)
	c := NewChecker(0)
	obs := func(key string) Verdict { return c.Observe("p", []byte(key), s.Next([]byte(key))) }
	obs("a")
	obs("b")
	obs("c") // evicts a, the first key not used again, from the stamper
	if got := len(s.index); got != 2 {
		t.Fatalf("stamper holds %d keys, want 2", got)
	}
	if v := obs("a"); v != Restarted {
		t.Fatalf("forgotten key: verdict %v, want restarted", v)
	}
	if v := obs("a"); v != InOrder {
		t.Fatalf("after restart: verdict %v, want in order", v)
	}
}

// TestStamperForgets protects the stamper's bound and what it forgets:
// over random keys and bounds it never holds more than its bound, and
// every sequence is one more than the key's last unless the key was
// forgotten (then 1).
func TestStamperForgets(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, max := range []int{1, 2, 3, 7, 64} {
		s := NewStamper(max)
		last := make(map[string]uint64)
		for i := range 20_000 {
			key := fmt.Sprint("k", rng.IntN(4*max+1))
			got := s.Next([]byte(key))
			if want := last[key] + 1; got != want && got != 1 {
				t.Fatalf("max %d, call %d: Next(%s) = %d, want %d (or 1 if forgotten)", max, i, key, got, want)
			}
			last[key] = got
			if len(s.index) > max || len(s.stamps) > max {
				t.Fatalf("max %d: holds %d keys", max, len(s.index))
			}
		}
	}
}

// TestStamperKeepsHotKeys protects the choice of what to forget: keys in
// use keep counting however many keys used once come and go, and a key
// is forgotten only when a new key needs its room.
func TestStamperKeepsHotKeys(t *testing.T) {
	const max = 8
	s := NewStamper(max)
	hot := []string{"a", "b", "c"}
	for i := range 10_000 {
		for _, k := range hot {
			if got, want := s.Next([]byte(k)), uint64(i+1); got != want {
				t.Fatalf("round %d: Next(%s) = %d, want %d: a key in use was forgotten", i, k, got, want)
			}
		}
		if got := s.Next([]byte(fmt.Sprint("once-", i))); got != 1 {
			t.Fatalf("round %d: a new key got %d", i, got)
		}
	}
	s = NewStamper(2)
	s.Next([]byte("x"))
	s.Next([]byte("y"))
	for range 10 { // room for both: neither is forgotten
		s.Next([]byte("x"))
		s.Next([]byte("y"))
	}
	if got := s.Next([]byte("x")); got != 12 {
		t.Fatalf("Next(x) = %d, want 12", got)
	}
}

// TestStamperNoAllocs protects the hot path: stamping a key the stamper
// remembers allocates nothing.
func TestStamperNoAllocs(t *testing.T) {
	s := NewStamper(0)
	key := []byte("orders\x00order-1")
	s.Next(key)
	if n := testing.AllocsPerRun(100, func() { s.Next(key) }); n != 0 {
		t.Fatalf("Next of a known key: %v allocations, want 0", n)
	}
}

func TestChecker(t *testing.T) {
	tests := []struct {
		name string
		seqs []uint64
		want []Verdict
	}{
		{"in order", []uint64{1, 2, 3}, []Verdict{First, InOrder, InOrder}},
		{"gap", []uint64{1, 2, 4}, []Verdict{First, InOrder, Gap}},
		{"duplicate", []uint64{1, 2, 2}, []Verdict{First, InOrder, Regressed}},
		{"reordered", []uint64{1, 3, 2}, []Verdict{First, Gap, Regressed}},
		{"restart", []uint64{5, 6, 1, 2}, []Verdict{First, InOrder, Restarted, InOrder}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewChecker(0)
			for i, seq := range tt.seqs {
				if got := c.Observe("p1", []byte("k"), seq); got != tt.want[i] {
					t.Fatalf("seq %d (#%d): verdict %v, want %v", seq, i, got, tt.want[i])
				}
			}
		})
	}
}

func TestCheckerSeparatesProducersAndKeys(t *testing.T) {
	c := NewChecker(0)
	c.Observe("p1", []byte("k"), 1)
	if v := c.Observe("p2", []byte("k"), 7); v != First {
		t.Fatalf("other producer: %v, want first", v)
	}
	if v := c.Observe("p1", []byte("k2"), 9); v != First {
		t.Fatalf("other key: %v, want first", v)
	}
	c.Observe("p1", []byte("k"), 3)
	st := c.verdicts()
	if st["p1"].Gaps != 1 || st["p2"].Gaps != 0 {
		t.Fatalf("stats = %+v", st)
	}
	if !Gap.Violation() || !Regressed.Violation() || InOrder.Violation() || Restarted.Violation() {
		t.Fatal("Violation() misclassifies verdicts")
	}
}

func TestCheckerBounded(t *testing.T) {
	c := NewChecker(100)
	for i := 0; i < 10_000; i++ {
		c.Observe("p", []byte(fmt.Sprint(i)), 1)
	}
	if n := len(c.pairs); n != 100 {
		t.Fatalf("checker holds %d pairs, want 100", n)
	}
	n := 0
	for _, keys := range c.index {
		n += len(keys)
	}
	if n != 100 {
		t.Fatalf("checker indexes %d pairs, want 100", n)
	}
}

// TestCheckerForgetsUnused protects what the bound forgets: a pair seen
// again since the last sweep outlives pairs seen once.
func TestCheckerForgetsUnused(t *testing.T) {
	c := NewChecker(2)
	c.Observe("p", []byte("x"), 1)
	c.Observe("p", []byte("y"), 1)
	c.Observe("p", []byte("x"), 2) // x is used again
	c.Observe("p", []byte("z"), 1) // full: y goes
	if v := c.Observe("p", []byte("x"), 3); v != InOrder {
		t.Fatalf("x after z: %v, want in-order (remembered)", v)
	}
	if v := c.Observe("p", []byte("y"), 2); v != First {
		t.Fatalf("y after z: %v, want first (forgotten)", v)
	}
}

// TestCheckerNoAllocs protects the consumer's hot path: observing a pair
// the checker remembers allocates nothing.
func TestCheckerNoAllocs(t *testing.T) {
	c := NewChecker(0)
	key := []byte("order-1")
	var seq uint64 = 1
	c.Observe("producer-1", key, seq)
	if n := testing.AllocsPerRun(100, func() { seq++; c.Observe("producer-1", key, seq) }); n != 0 {
		t.Fatalf("Observe of a known pair: %v allocations, want 0", n)
	}
}

func TestCheckerStatsBounded(t *testing.T) {
	c := NewChecker(10)
	for i := 0; i < 5000; i++ {
		c.Observe(fmt.Sprint("p", i), []byte("k"), 1)
	}
	if n := len(c.verdicts()); n > maxProducers {
		t.Fatalf("stats for %d producers, want at most %d", n, maxProducers)
	}
}

// TestCheckerProducerRuns protects the checker's memory of the last
// producer against what changes under it: pairs of that producer
// forgotten (its index emptied and made again), new producers, the
// counts started over. Producers come in runs and interleave, over a
// bound of 3 pairs; every verdict and count must be what a checker that
// looks every producer up would say: here, an exact model of the bound.
func TestCheckerProducerRuns(t *testing.T) {
	c := NewChecker(3)
	type step struct {
		prod, key string
		seq       uint64
		want      Verdict
	}
	steps := []step{
		{"a", "x", 1, First}, {"a", "x", 2, InOrder}, {"a", "y", 1, First},
		{"b", "x", 1, First}, // full: 3 pairs
		{"b", "x", 3, Gap},
		{"a", "z", 1, First}, // a's x was used: a's y goes
		{"a", "y", 5, First}, // forgotten; b's x was used: a's x goes
		{"b", "x", 4, InOrder},
		{"b", "x", 2, Regressed},
		{"a", "x", 3, First}, // forgotten; a's z goes
		{"c", "k", 1, First}, // a's y goes
		{"a", "x", 1, Restarted},
		{"d", "k", 1, First}, // b's x goes
		{"e", "k", 1, First}, // c's k goes
		{"f", "k", 1, First}, // a's x goes: a's index is emptied
		{"a", "x", 4, First}, // a made again
		{"a", "x", 5, InOrder},
	}
	for i, s := range steps {
		if got := c.Observe(s.prod, []byte(s.key), s.seq); got != s.want {
			t.Fatalf("step %d (%s %s %d): %v, want %v", i, s.prod, s.key, s.seq, got, s.want)
		}
	}
	st := c.verdicts()
	if got, want := st["a"], (seqStats{InOrder: 2, Restarts: 1}); got != want {
		t.Fatalf("a's counts %+v, want %+v", got, want)
	}
	if got, want := st["b"], (seqStats{InOrder: 1, Gaps: 1, Regressions: 1}); got != want {
		t.Fatalf("b's counts %+v, want %+v", got, want)
	}
	// The counts start over past maxProducers: the last producer's too.
	for i := range maxProducers {
		c.Observe(fmt.Sprint("p", i), []byte("k"), 1)
	}
	c.Observe("a", []byte("x"), 2)
	if got := c.verdicts()["a"]; got.InOrder+got.Gaps+got.Regressions+got.Restarts > 1 {
		t.Fatalf("a's counts %+v after the counts started over, want at most one verdict", got)
	}
}
