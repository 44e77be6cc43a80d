package producer

import (
	"strings"
	"testing"
	"time"
)

// TestWallClock protects what IDs and record timestamps are made from:
// the clock stays within a millisecond of time.Now, never goes back
// between anchors, re-anchors, and carries no monotonic reading (it is a
// record timestamp, compared across machines).
func TestWallClock(t *testing.T) {
	var c wallClock
	var (
		last       time.Time
		lastAnchor *clockAnchor
	)
	anchors := make(map[*clockAnchor]bool)
	for end := time.Now().Add(3 * anchorEvery); time.Now().Before(end); {
		before := time.Now()
		got := c.now()
		after := time.Now()
		if got.Before(before.Add(-time.Millisecond)) || got.After(after.Add(time.Millisecond)) {
			t.Fatalf("now() = %v, outside [%v, %v] by more than 1ms", got, before, after)
		}
		a := c.anchor.Load()
		if a == lastAnchor && got.Before(last) {
			t.Fatalf("now() went back under one anchor: %v after %v", got, last)
		}
		if strings.Contains(got.String(), "m=") {
			t.Fatalf("now() = %v carries a monotonic reading", got)
		}
		last, lastAnchor = got, a
		anchors[a] = true
		time.Sleep(time.Millisecond)
	}
	if len(anchors) < 2 {
		t.Fatalf("%d anchors over %v, want a re-anchor every %v", len(anchors), 3*anchorEvery, anchorEvery)
	}
}
