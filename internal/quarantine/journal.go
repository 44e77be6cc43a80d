package quarantine

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"sync"
)

// state is one key's quarantine as of some offset: ok false is "not
// quarantined".
type state struct {
	ok bool
	e  Entry
}

// trans is a change of a key's state caused by the record at offset
// cause: the state holds from the commit that passes cause.
type trans struct {
	cause int64
	s     state
}

// track is what a store-backed set remembers of a key whose record in the
// store is not final: its state as of the partition's committed offset
// (base), the changes caused by records at or after it (log, by cause),
// and whether the store must be written for it (gen, bumped by each
// change, cleared by the flush that wrote the latest one).
type track struct {
	base    state
	log     []trans
	gen     uint64
	flushed uint64
	tomb    bool // the last record written for the key is a tombstone
}

// journal is the store side of one partition's set. The set's owner
// changes it (under the owner's lock) while the committer flushes it, so
// it has a lock of its own; the set's map is not shared with the flusher.
type journal struct {
	mu        sync.Mutex
	tp        TP
	committed int64 // the partition's committed offset as last confirmed
	pending   int64 // the commit point of a flush not yet confirmed, or -1
	tracks    map[uint64]*track
}

func newJournal(tp TP, committed int64) *journal {
	return &journal{tp: tp, committed: committed, pending: -1, tracks: make(map[uint64]*track)}
}

// note records that the record at cause changed key h from before to
// after. Called by the set's owner.
func (j *journal) note(h uint64, before state, cause int64, after state) {
	j.mu.Lock()
	defer j.mu.Unlock()
	t := j.tracks[h]
	if t == nil {
		t = &track{base: before}
		j.tracks[h] = t
	}
	t.gen++
	if cause < j.committed || cause < 0 {
		// A lift dated before the committed offset (Set.Lift), or a key
		// merged from commit metadata (Set.Merge): it is part of the
		// committed state. The key's earlier changes are before it, so
		// confirm already took them out of the log.
		t.base = after
		return
	}
	t.log = append(t.log, trans{cause: cause, s: after})
}

// at is t's state as of committed offset c: the last change caused by a
// record before c. Changes of one key are noted in the key's order, and
// their causes do not decrease (see Set.Lift), so the log is sorted.
func (t *track) at(c int64) state {
	s := t.base
	for _, tr := range t.log {
		if tr.cause >= c {
			break
		}
		s = tr.s
	}
	return s
}

// out is one record to write: a key's state as of the flush's commit
// point and as of the committed offset.
type out struct {
	h    uint64
	gen  uint64
	val  []byte // nil: a tombstone
	asOf int64
}

// stage returns the records a flush before committing point must write.
func (j *journal) stage(point int64) []out {
	j.mu.Lock()
	defer j.mu.Unlock()
	if point < j.committed {
		point = j.committed
	}
	j.pending = point
	var outs []out
	for h, t := range j.tracks {
		if t.gen == t.flushed {
			continue
		}
		cur, base := t.at(point), t.base
		var val []byte
		if cur.ok || base.ok {
			val = encodeValue(point, cur, base)
		}
		outs = append(outs, out{h: h, gen: t.gen, val: val, asOf: point})
	}
	return outs
}

// written marks outs acknowledged: a key is done with until it changes
// again, unless a change it has at or after the flush's point is still
// to be written.
func (j *journal) written(outs []out) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, o := range outs {
		t := j.tracks[o.h]
		if t == nil || t.gen != o.gen {
			continue
		}
		if len(t.log) == 0 || t.log[len(t.log)-1].cause < o.asOf {
			t.flushed = t.gen
		}
		t.tomb = o.val == nil
		if o.val == nil && len(t.log) == 0 {
			delete(j.tracks, o.h) // tombstoned: nothing left to remember
		}
	}
}

// confirm records that the partition's committed offset is c: each key's
// base moves to its state as of c. A key whose state is final is
// forgotten, or, when that state is "not quarantined", tombstoned at the
// next flush so compaction can drop it.
func (j *journal) confirm(c int64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.pending = -1
	if c < j.committed {
		return
	}
	j.committed = c
	for h, t := range j.tracks {
		t.base = t.at(c)
		i := 0
		for i < len(t.log) && t.log[i].cause < c {
			i++
		}
		t.log = append(t.log[:0], t.log[i:]...)
		if len(t.log) > 0 || t.gen != t.flushed {
			continue
		}
		if t.base.ok || t.tomb {
			delete(j.tracks, h)
		} else {
			t.gen++ // write the tombstone
		}
	}
}

// unconfirmed reports whether the last flush's commit was neither
// confirmed nor known to have failed.
func (j *journal) unconfirmed() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.pending >= 0
}

// Store record format (version 1).
//
// Key: "<topic>/<partition>/<hash as 16 hex digits>". Value: a version
// byte (1), the offset asOf (int64), then two states, each a presence
// byte and start and last offsets (int64): the key's state as of the
// commit point asOf (read for a committed offset >= asOf) and as of the
// offset committed when it was written (see decodeValue for a committed
// offset < asOf).
// A nil value (tombstone) is "not quarantined" as of every offset.
const (
	valueVersion = 1
	stateBytes   = 17
	valueBytes   = 1 + 8 + 2*stateBytes
)

func recordKey(tp TP, h uint64) []byte {
	b := make([]byte, 0, len(tp.Topic)+28)
	b = append(b, tp.Topic...)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(tp.Partition), 10)
	b = append(b, '/')
	return fmt.Appendf(b, "%016x", h)
}

// keyPrefix is what the record keys of tp's entries start with.
func keyPrefix(tp TP) string {
	return tp.Topic + "/" + strconv.Itoa(int(tp.Partition)) + "/"
}

func encodeValue(asOf int64, cur, base state) []byte {
	b := make([]byte, 0, valueBytes)
	b = append(b, valueVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(asOf))
	for _, s := range [2]state{cur, base} {
		var ok byte
		if s.ok {
			ok = 1
		}
		b = append(b, ok)
		b = binary.BigEndian.AppendUint64(b, uint64(s.e.Start))
		b = binary.BigEndian.AppendUint64(b, uint64(s.e.Last))
	}
	return b
}

// decodeValue returns the state a record says key has as of committed
// offset c, and the offset it was written as of.
func decodeValue(v []byte, c int64) (state, int64, error) {
	if v == nil {
		return state{}, -1, nil
	}
	if len(v) != valueBytes || v[0] != valueVersion {
		return state{}, 0, fmt.Errorf("%w: store value of %d bytes, version %d", ErrFormat, len(v), first(v))
	}
	asOf := int64(binary.BigEndian.Uint64(v[1:]))
	cur, err := decodeState(v[9:])
	if err != nil {
		return state{}, 0, err
	}
	base, err := decodeState(v[9+stateBytes:])
	if err != nil || c >= asOf {
		return cur, asOf, err
	}
	// The commit the record was written for did not happen: the records
	// from c on are consumed again. A quarantine that held at c holds
	// (its lift, or its restart at a later record, is done again if those
	// records are). A key free at c but quarantined since stays
	// quarantined: its dead letter was written, and if its record is now
	// handled, the dead letter's redrive must still find it behind it.
	if base.ok {
		return base, asOf, nil
	}
	return cur, asOf, nil
}

func decodeState(s []byte) (state, error) {
	st := state{ok: s[0] == 1, e: Entry{Start: int64(binary.BigEndian.Uint64(s[1:])), Last: int64(binary.BigEndian.Uint64(s[9:]))}}
	if s[0] > 1 || st.ok && (st.e.Start < 0 || st.e.Last < st.e.Start) {
		return state{}, fmt.Errorf("%w: bad store entry", ErrFormat)
	}
	return st, nil
}

func first(b []byte) int {
	if len(b) == 0 {
		return -1
	}
	return int(b[0])
}
