package partition

import (
	"sync"

	"github.com/ordo-go/ordo/internal/lru"
)

// DefaultMaxKeys is the number of keys a [Stamper] or [Checker] remembers
// when given a bound of zero or less.
const DefaultMaxKeys = 1 << 16

// Stamper hands out a per-key sequence number on the producer side: 1 for
// the first event of a key, then 2, 3, and so on. Written into the ordo-seq
// header together with the producer's instance ID, it lets a consumer see
// when a key's events arrive reordered or with a gap.
//
// Memory is bounded: the stamper remembers the most recently used keys only.
// A key it has forgotten starts again at 1, which a [Checker] reads as a new
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
	// Every publish of a keyed event passes here, so the stamper is its
	// own LRU rather than internal/lru's Get and Put: one map lookup per
	// call, and no allocation for a key it remembers (the lookup by
	// string(key) does not copy the key; only a new key is copied).
	// Entries form a ring, most recently used at head, least at
	// head.prev; an evicted entry is reused for the new key.
	keys map[string]*stamp
	head *stamp
}

// stamp is a key's sequence and its place in the recency ring.
type stamp struct {
	key        string
	seq        uint64
	prev, next *stamp
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
	if e := s.keys[string(key)]; e != nil {
		e.seq++
		s.touch(e)
		return e.seq
	}
	s.add(string(key))
	return 1
}

// touch makes e the most recently used entry.
func (s *Stamper) touch(e *stamp) {
	if e == s.head {
		return
	}
	e.prev.next, e.next.prev = e.next, e.prev // unlink
	e.prev, e.next = s.head.prev, s.head      // relink before head
	e.prev.next, e.next.prev = e, e
	s.head = e
}

// add remembers key at sequence 1 as the most recently used entry,
// forgetting the least recently used one when full.
func (s *Stamper) add(key string) {
	if s.keys == nil {
		if s.max <= 0 {
			s.max = DefaultMaxKeys
		}
		s.keys = make(map[string]*stamp)
	}
	if len(s.keys) >= s.max {
		e := s.head.prev // the least recently used: reuse it
		delete(s.keys, e.key)
		e.key, e.seq = key, 1
		s.keys[key] = e
		s.head = e // the ring's order is unchanged: the oldest becomes the newest
		return
	}
	e := &stamp{key: key, seq: 1}
	if s.head == nil {
		e.prev, e.next = e, e
	} else {
		e.prev, e.next = s.head.prev, s.head
		e.prev.next, e.next.prev = e, e
	}
	s.head = e
	s.keys[key] = e
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

// SeqStats counts a checker's verdicts for one producer.
type SeqStats struct {
	InOrder, Gaps, Regressions, Restarts uint64
}

type seqKey struct{ producer, key string }

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
	mu    sync.Mutex
	last  *lru.Cache[seqKey, uint64]
	stats map[string]*SeqStats
}

// NewChecker returns a checker that remembers up to maxKeys (producer, key)
// pairs ([DefaultMaxKeys] if maxKeys <= 0).
func NewChecker(maxKeys int) *Checker {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	return &Checker{last: lru.New[seqKey, uint64](maxKeys), stats: make(map[string]*SeqStats)}
}

// Observe records seq for producer and key and returns its verdict.
func (c *Checker) Observe(producer string, key []byte, seq uint64) Verdict {
	if c == nil {
		return First
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last == nil {
		c.last, c.stats = lru.New[seqKey, uint64](DefaultMaxKeys), make(map[string]*SeqStats)
	}
	k := seqKey{producer, string(key)}
	prev, seen := c.last.Get(k)
	c.last.Put(k, seq)
	st := c.stats[producer]
	if st == nil {
		if len(c.stats) >= maxProducers { // restarted producers leave old IDs: stay bounded
			clear(c.stats)
		}
		st = new(SeqStats)
		c.stats[producer] = st
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

// Stats returns a copy of the verdict counts per producer ID, for the
// most recent producers (at most 1024 IDs are kept).
func (c *Checker) Stats() map[string]SeqStats {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]SeqStats, len(c.stats))
	for p, st := range c.stats {
		out[p] = *st
	}
	return out
}
