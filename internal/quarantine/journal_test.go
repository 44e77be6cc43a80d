package quarantine

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// fakeStore is a compacted topic without the broker: the last value of a
// key wins.
type fakeStore map[string][]byte

func (f fakeStore) flush(j *journal, point int64) {
	outs := j.stage(point)
	for _, o := range outs {
		f[string(recordKey(j.tp, o.h))] = o.val
	}
	j.written(outs)
}

func (f fakeStore) load(t *testing.T, tp TP, c int64) *Set {
	t.Helper()
	l := &loading{tp: tp, c: c, m: make(map[uint64]Entry), fix: make(map[uint64]state)}
	loads := map[string]*loading{keyPrefix(tp): l}
	for k, v := range f {
		if v == nil {
			continue // compacted away
		}
		if err := apply(loads, &kgo.Record{Key: []byte(k), Value: v}); err != nil {
			t.Fatal(err)
		}
	}
	return &Set{max: DefaultMaxKeys, m: l.m}
}

// TestJournalMatchesCommits drives a store-backed set through random
// dead letters, follows, restarts and lifts of a few keys, with commits at
// random points behind the newest record (as a consumer's commit point
// lags records of other keys still in flight), some of them failing, and
// checks after every
// confirmed commit that what a restart would load equals each key's
// state as of the committed offset, tracked here independently, and that
// the set's memory of changes empties once everything is committed.
func TestJournalMatchesCommits(t *testing.T) {
	for seed := range uint64(50) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { journalRun(t, rand.New(rand.NewPCG(seed, 1))) })
	}
}

func journalRun(t *testing.T, rng *rand.Rand) {
	tp := TP{"t", 0}
	j := newJournal(tp, 0)
	set := &Set{max: DefaultMaxKeys, m: make(map[uint64]Entry), j: j}
	store := fakeStore{}
	type change struct {
		cause int64
		s     state
	}
	hist := make(map[int][]change) // key → its changes, by cause
	asOf := func(k int, c int64) state {
		var s state
		for _, ch := range hist[k] {
			if ch.cause < c {
				s = ch.s
			}
		}
		return s
	}
	committed, last := int64(0), int64(0)
	for off := int64(0); off < 400; off++ {
		k := rng.IntN(6)
		e, ok := set.Get(key(k))
		switch r := rng.IntN(10); {
		case ok && r < 3:
			if set.Lift(key(k), e.Start, e.Last) {
				hist[k] = append(hist[k], change{e.Last, state{}})
			}
		case ok && r < 8:
			set.Follow(key(k), off)
			hist[k] = append(hist[k], change{off, state{true, Entry{e.Start, off}}})
		default:
			_ = set.Start(key(k), off)
			hist[k] = append(hist[k], change{off, state{true, Entry{off, off}}})
		}
		if rng.IntN(8) != 0 {
			continue
		}
		// A commit point never passes the next record, and never goes
		// back, even after a failed commit.
		point := last + rng.Int64N(off+2-last)
		last = point
		store.flush(j, point)
		if rng.IntN(4) == 0 {
			// The commit failed; had the consumer crashed here, the next
			// owner resumes from committed and must find each key
			// quarantined as it was then, or, if it was free then,
			// quarantined by a record it will read again.
			loaded := store.load(t, tp, committed)
			for k := range 6 {
				e, ok := loaded.Get(key(k))
				want := asOf(k, committed)
				if want.ok && (state{ok, e}) != want || !want.ok && ok && e.Start < committed {
					t.Fatalf("offset %d, committed %d, commit of %d lost: key %d loads as %v %+v, want %+v (history %+v)", off, committed, point, k, ok, e, want, hist[k])
				}
			}
			j.confirm(committed) // the committer learns the offset stands
			continue
		}
		committed = point
		j.confirm(committed)
		loaded := store.load(t, tp, committed)
		for k := range 6 {
			e, ok := loaded.Get(key(k))
			if got, want := (state{ok, e}), asOf(k, committed); got != want {
				t.Fatalf("offset %d, committed %d: key %d loads as %+v, want %+v (history %+v)", off, committed, k, got, want, hist[k])
			}
		}
	}
	store.flush(j, 400)
	j.confirm(400)
	store.flush(j, 400) // the tombstones
	j.confirm(400)
	if n := len(j.tracks); n != 0 {
		t.Fatalf("%d keys still tracked with everything committed", n)
	}
}

// TestPendingMemoryPerKey measures what a key costs between its dead
// letter and the commit that makes it final: the set's entry and the
// journal's record of the change, against the documented
// pendingBytesPerKey.
func TestPendingMemoryPerKey(t *testing.T) {
	const n = 100_000
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = key(i)
	}
	before := liveHeap()
	set := &Set{max: DefaultMaxKeys, m: make(map[uint64]Entry), j: newJournal(TP{"t", 0}, 0)}
	for i, k := range keys {
		if err := set.Start(k, int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	perKey := float64(liveHeap()-before) / n
	t.Logf("%.1f bytes of live heap per key quarantined since the last commit", perKey)
	if perKey > pendingBytesPerKey {
		t.Fatalf("%.1f bytes per pending key, documented at most %d", perKey, pendingBytesPerKey)
	}
	if set.Len() != n {
		t.Fatal(set.Len())
	}
}
