package partition

import (
	"sync"
)

// DefaultMaxKeys is the number of keys a [Stamper] or [Checker] remembers
// when given a bound of zero or less.
const DefaultMaxKeys = 1 << 16

// Stamper hands out a per-key sequence number on the producer side: 1 for
// the first event of a key, then 2, 3, and so on. Written into the ordo-seq
// header together with the producer's instance ID, it lets a consumer see
// when a key's events arrive reordered or with a gap.
//
// Memory is bounded: the stamper remembers at most its bound of keys; when
// full, it forgets a key not used recently to make room for a new one. A
// key it has forgotten starts again at 1, which a [Checker] reads as a new
// run rather than a reordering.
//
// The zero value is ready to use, remembering [DefaultMaxKeys] keys. A nil
// *Stamper hands out 0, which is never a sequence. A Stamper is safe for
// concurrent use. Callers that need the stamp order to match the publish
// order of a key must stamp and enqueue under one lock, or from one
// goroutine per key.
type Stamper struct {
	mu  sync.Mutex
	max int
	// Every publish of a keyed event passes here, so a stamp of a key the
	// stamper remembers is one map lookup (by string(key), which does not
	// copy the key) and one write to that key's entry: no allocation, no
	// other entry touched. (An exact LRU list relinked two other entries
	// on every stamp: with 10,000 keys, cache misses on every event.)
	// Forgetting follows CLOCK, the usual approximation of least recently
	// used: reusing a key marks its entry; to make room, the hand sweeps
	// the entries as a ring, clearing marks, and reuses the first unmarked
	// entry. Keys used again keep their entries while keys used once go
	// first; if every key was reused since the last sweep, the sweep goes
	// round and the entry after the hand goes.
	index  map[string]int // key → its entry in stamps
	stamps []stamp
	hand   int // the next entry the sweep looks at
}

// stamp is one remembered key.
type stamp struct {
	key  string
	seq  uint64
	used bool // reused since the hand last passed
}

// NewStamper returns a stamper that remembers up to maxKeys keys
// ([DefaultMaxKeys] if maxKeys <= 0).
func NewStamper(maxKeys int) *Stamper {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	return &Stamper{max: maxKeys}
}

// Next returns the next sequence number for key.
func (s *Stamper) Next(key []byte) uint64 {
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if i, ok := s.index[string(key)]; ok {
		e := &s.stamps[i]
		e.seq++
		e.used = true
		return e.seq
	}
	s.add(string(key))
	return 1
}

// add remembers key at sequence 1, forgetting a key not used recently
// when full.
func (s *Stamper) add(key string) {
	if s.index == nil {
		if s.max <= 0 {
			s.max = DefaultMaxKeys
		}
		s.index = make(map[string]int)
	}
	if len(s.stamps) < s.max {
		s.index[key] = len(s.stamps)
		s.stamps = append(s.stamps, stamp{key: key, seq: 1})
		return
	}
	for s.stamps[s.hand].used { // ends: each step clears a mark
		s.stamps[s.hand].used = false
		s.hand = (s.hand + 1) % len(s.stamps)
	}
	e := &s.stamps[s.hand]
	delete(s.index, e.key)
	*e = stamp{key: key, seq: 1}
	s.index[key] = s.hand
	s.hand = (s.hand + 1) % len(s.stamps)
}

// Verdict is what a [Checker] concludes about one observed sequence number.
type Verdict int

const (
	// First is the first sequence seen for the producer and key (or the
	// first after the checker forgot the key).
	First Verdict = iota
	// InOrder is exactly one more than the previous sequence.
	InOrder
	// Restarted is sequence 1 after a higher one: the producer forgot the
	// key (its memory is bounded) or restarted with the same instance ID.
	Restarted
	// Gap is more than one ahead of the previous sequence: events of the key
	// are missing between the two, or were written to another partition.
	Gap
	// Regressed is at or below the previous sequence: a duplicate, or an
	// event consumed after a later one of the same key.
	Regressed
)

var verdictNames = [...]string{"first", "in order", "restarted", "gap", "regressed"}

func (v Verdict) String() string {
	if v < 0 || int(v) >= len(verdictNames) {
		return "unknown"
	}
	return verdictNames[v]
}

// Violation reports whether v breaks per-key order (a gap or a regression).
func (v Verdict) Violation() bool { return v == Gap || v == Regressed }

// seqStats counts a checker's verdicts for one producer.
type seqStats struct {
	InOrder, Gaps, Regressions, Restarts uint64
}

// maxProducers bounds the producer IDs a Checker keeps counts for; past it
// the counts start over.
const maxProducers = 1024

// Checker checks, on the consumer side, that the sequence numbers of each
// (producer, key) pair arrive in order: each one more than the last. It
// remembers a bounded number of pairs and forgets the least recently seen;
// a forgotten pair starts afresh.
//
// Keep one Checker per assigned partition and drop it when the partition is
// revoked: another consumer may handle the records in between, and a stale
// memory would report them as a gap.
//
// The zero value is ready to use, remembering [DefaultMaxKeys] pairs. A
// nil *Checker remembers nothing: every sequence is [First]. A Checker is
// safe for concurrent use.
type Checker struct {
	mu  sync.Mutex
	max int
	// Every consumed record of a stamped key passes here, from several
	// lanes at once. A remembered pair is found by two map lookups that
	// do not copy the key (producer, then string(key)) and updated in
	// place: no allocation, no other entry touched. (An exact LRU list
	// cost a key copy per call and a relinking of two other entries: with
	// thousands of keys, a cache miss per record and the largest cost in
	// the consumer's own work, issue 15.) Forgetting follows CLOCK, as
	// the Stamper's does: a pair seen again is marked; to make room the
	// hand sweeps the entries as a ring, clearing marks, and reuses the
	// first unmarked one.
	index map[string]map[string]int // producer → key → entry in pairs
	pairs []pair
	hand  int
	stats map[string]*seqStats

	// The producer of the last call and its entries in index and stats:
	// a partition's records come from a handful of producers, in runs,
	// and hashing a 36-byte ID twice per record was a third of the
	// call (issue 20). lastStats is nil when there is none; whatever
	// changes index or stats for a producer clears it.
	lastProd  string
	lastKeys  map[string]int
	lastStats *seqStats
}

// pair is one remembered (producer, key) and its last sequence number.
type pair struct {
	producer, key string
	seq           uint64
	used          bool // seen again since the hand last passed
}

// NewChecker returns a checker that remembers up to maxKeys (producer, key)
// pairs ([DefaultMaxKeys] if maxKeys <= 0).
func NewChecker(maxKeys int) *Checker {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	return &Checker{max: maxKeys}
}

// Observe records seq for producer and key and returns its verdict.
func (c *Checker) Observe(producer string, key []byte, seq uint64) Verdict {
	if c == nil {
		return First
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.index == nil {
		if c.max <= 0 {
			c.max = DefaultMaxKeys
		}
		c.index, c.stats = make(map[string]map[string]int), make(map[string]*seqStats)
	}
	keys, st := c.producer(producer)
	i, seen := keys[string(key)]
	var prev uint64
	if seen {
		p := &c.pairs[i]
		prev, p.seq, p.used = p.seq, seq, true
	} else {
		c.remember(producer, string(key), seq)
	}
	switch {
	case !seen:
		return First
	case seq == prev+1:
		st.InOrder++
		return InOrder
	case seq == 1:
		st.Restarts++
		return Restarted
	case seq > prev:
		st.Gaps++
		return Gap
	default:
		st.Regressions++
		return Regressed
	}
}

// producer returns producer's keys (nil if none) and its counts, made if
// new.
func (c *Checker) producer(producer string) (map[string]int, *seqStats) {
	if c.lastStats != nil && producer == c.lastProd {
		return c.lastKeys, c.lastStats
	}
	st := c.stats[producer]
	if st == nil {
		if len(c.stats) >= maxProducers { // restarted producers leave old IDs: stay bounded
			clear(c.stats)
		}
		st = new(seqStats)
		c.stats[producer] = st
	}
	c.lastProd, c.lastKeys, c.lastStats = producer, c.index[producer], st
	return c.lastKeys, st
}

// remember adds a pair, forgetting one not seen recently when full.
func (c *Checker) remember(producer, key string, seq uint64) {
	c.lastStats = nil // index changes: look the producer up again next time
	i := len(c.pairs)
	if i < c.max {
		c.pairs = append(c.pairs, pair{})
	} else {
		for c.pairs[c.hand].used { // ends: each step clears a mark
			c.pairs[c.hand].used = false
			c.hand = (c.hand + 1) % len(c.pairs)
		}
		i = c.hand
		c.hand = (c.hand + 1) % len(c.pairs)
		old := c.pairs[i]
		if m := c.index[old.producer]; m != nil {
			delete(m, old.key)
			if len(m) == 0 {
				delete(c.index, old.producer)
			}
		}
	}
	c.pairs[i] = pair{producer: producer, key: key, seq: seq}
	keys := c.index[producer]
	if keys == nil {
		keys = make(map[string]int)
		c.index[producer] = keys
	}
	keys[key] = i
}

// verdicts returns a copy of the verdict counts per producer ID, for the
// most recent producers (at most 1024 IDs are kept).
func (c *Checker) verdicts() map[string]seqStats {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]seqStats, len(c.stats))
	for p, st := range c.stats {
		out[p] = *st
	}
	return out
}
