package telemetry

import (
	"fmt"
	"testing"
	"time"
)

// TestLogLimit protects the bound on repeated lines: Burst lines per
// Every for each condition, the dropped ones counted onto the next line
// allowed, conditions independent, and the zero value allowing all.
func TestLogLimit(t *testing.T) {
	l := &LogLimit{Every: 10 * time.Second, Burst: 3}
	t0 := time.Unix(1000, 0)
	allowed := 0
	for i := 0; i < 100_000; i++ {
		if ok, _ := l.Allow("retry/timeout", t0.Add(time.Duration(i)*time.Millisecond)); ok {
			allowed++
		}
	}
	// 100 s of lines, one a millisecond: 3 in each of 10 windows.
	if allowed != 30 {
		t.Fatalf("allowed %d lines of 100,000 over 100 s, want 30", allowed)
	}
	// The last window allowed 3 of its 10,000 lines; the rest are
	// counted onto the next line.
	ok, suppressed := l.Allow("retry/timeout", t0.Add(200*time.Second))
	if !ok || suppressed != 10_000-3 {
		t.Fatalf("next window: ok %v, suppressed %d, want true, %d", ok, suppressed, 10_000-3)
	}
	if ok, s := l.Allow("dead-letter/decode", t0); !ok || s != 0 {
		t.Fatalf("another condition: ok %v suppressed %d, want its own window", ok, s)
	}
	var zero LogLimit
	for i := 0; i < 10; i++ {
		if ok, _ := zero.Allow("x", t0); !ok {
			t.Fatal("the zero LogLimit dropped a line")
		}
	}
	for i := 0; i < maxConds+10; i++ {
		l.Allow(fmt.Sprint("c", i), t0)
	}
	if len(l.conds) > maxConds {
		t.Fatalf("%d conditions remembered, want at most %d", len(l.conds), maxConds)
	}
}
