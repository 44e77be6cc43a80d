package consumer

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestTrackerNeverPassesUnfinished protects the commit rule: the commit
// point never moves past a record that has not finished, whatever order
// records finish in.
func TestTrackerNeverPassesUnfinished(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 9))
	for round := 0; round < 200; round++ {
		tr := newTracker()
		var offsets []int64
		off := int64(rng.IntN(100))
		for i := 0; i < 300; i++ {
			off += 1 + int64(rng.IntN(3)) // holes, as compaction leaves
			if !tr.add(off, 1, time.Time{}) {
				t.Fatalf("add(%d) refused an increasing offset", off)
			}
			offsets = append(offsets, off)
		}
		done := make(map[int64]bool)
		for _, i := range rng.Perm(len(offsets)) {
			tr.finish(offsets[i])
			done[offsets[i]] = true
			next, _, ok := tr.commitPoint()
			// Every offset below the point is finished; the one at the
			// point, if tracked, is not.
			for _, o := range offsets {
				if o < next && !done[o] {
					t.Fatalf("commit point %d passes unfinished offset %d", next, o)
				}
				if o == next && done[o] {
					t.Fatalf("commit point %d stops at a finished offset", next)
				}
			}
			if ok != (next > offsets[0]) {
				t.Fatalf("ok = %v with point %d, first %d", ok, next, offsets[0])
			}
		}
		if next, _, _ := tr.commitPoint(); next != offsets[len(offsets)-1]+1 || tr.pending() != 0 {
			t.Fatalf("all finished: point %d pending %d, want %d and 0", next, tr.pending(), offsets[len(offsets)-1]+1)
		}
	}
}

func TestTrackerRefusesRewind(t *testing.T) {
	tr := newTracker()
	tr.add(10, 0, time.Time{})
	if tr.add(10, 0, time.Time{}) || tr.add(5, 0, time.Time{}) {
		t.Fatal("add accepted a non-increasing offset")
	}
	tr.finish(10)
	if tr.add(9, 0, time.Time{}) {
		t.Fatal("add accepted an offset below the commit point")
	}
	if !tr.add(11, 0, time.Time{}) {
		t.Fatal("add refused the next offset")
	}
	if tr.finish(99) {
		t.Fatal("finish of an unknown offset moved the point")
	}
}

func TestTrackerReclaims(t *testing.T) {
	tr := newTracker()
	for o := int64(0); o < 10_000; o++ {
		tr.add(o, 0, time.Time{})
		tr.finish(o)
	}
	if cap(tr.entries) > 4096 {
		t.Fatalf("tracker kept %d entries for a fully finished stream", cap(tr.entries))
	}
}

func TestParseSeq(t *testing.T) {
	for in, want := range map[string]uint64{"1": 1, "42": 42, "18446744073709551": 18446744073709551, "": 0, "x1": 0, "-1": 0, "12345678901234567890": 0} {
		if got := parseSeq([]byte(in)); got != want {
			t.Errorf("parseSeq(%q) = %d, want %d", in, got, want)
		}
	}
}

// TestTrackerShrinks protects the consumer's heap from a backlog's size:
// records finished behind a slow one wait in the tracker, and once they
// are passed the tracker gives their memory back instead of keeping its
// largest array for the partition's lifetime.
func TestTrackerShrinks(t *testing.T) {
	tr := newTracker()
	for o := int64(0); o < 100_000; o++ {
		tr.add(o, 0, time.Time{})
	}
	for o := int64(99_999); o >= 0; o-- { // the lowest last: all wait for it
		tr.finish(o)
	}
	if next, _, _ := tr.commitPoint(); next != 100_000 || tr.pending() != 0 {
		t.Fatalf("point %d pending %d, want 100000 and 0", next, tr.pending())
	}
	if c := cap(tr.entries); c > 4*trackerMinCap {
		t.Fatalf("tracker kept an array of %d entries after its 100000 records passed", c)
	}
	for o := int64(100_000); o < 110_000; o++ { // and it still works
		tr.add(o, 0, time.Time{})
		tr.finish(o)
	}
	if next, _, _ := tr.commitPoint(); next != 110_000 {
		t.Fatalf("point %d, want 110000", next)
	}
}

// TestTrackerOldest protects lag by time: the tracker keeps timestamps in
// milliseconds, Kafka's unit.
func TestTrackerOldest(t *testing.T) {
	tr := newTracker()
	if _, ok := tr.oldest(); ok {
		t.Fatal("oldest of an empty tracker")
	}
	ts := time.UnixMilli(1_700_000_000_123)
	tr.add(5, 0, ts)
	tr.add(6, 0, ts.Add(time.Second))
	if got, ok := tr.oldest(); !ok || !got.Equal(ts) {
		t.Fatalf("oldest = %v, %v; want %v", got, ok, ts)
	}
	tr.finish(5)
	if got, _ := tr.oldest(); !got.Equal(ts.Add(time.Second)) {
		t.Fatalf("oldest after finish = %v, want %v", got, ts.Add(time.Second))
	}
}
