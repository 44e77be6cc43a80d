package consumer

import (
	"sort"
	"time"
	"unsafe"
)

// tracker follows the records of one partition from dispatch to finish and
// says how far the partition may be committed: up to, not including, the
// lowest record not yet finished. Records finish out of order (keys run in
// parallel), so a finished record past an unfinished one waits in the
// tracker until everything before it is done.
//
// Offsets are added in increasing order but need not be contiguous
// (compaction and transaction markers leave holes). Not safe for concurrent
// use; the engine holds its lock.
type tracker struct {
	entries  []trackEntry // entries[head:] are pending, in offset order
	head     int
	next     int64        // commit point: the offset to resume from
	epoch    int32        // leader epoch of the record before next
	advanced bool         // next has moved past a finished record
	acct     *backlogAcct // a catch-up's accounting; nil outside catch-up
}

// trackEntry is 24 bytes with no pointers: a tracker holds one per record
// dispatched and not yet passed by the commit point, which can be many
// more than MaxBuffered (records finished behind a slow one are not
// buffered but wait here), and an array of them is never scanned by the GC.
type trackEntry struct {
	offset int64
	ts     int64 // the record's timestamp in Unix milliseconds (Kafka's unit), for lag by time
	epoch  int32
	done   bool
	how    uint8 // how it finished (replay.go's how constants), for a catch-up's accounting
}

// trackEntrySize is a trackEntry's size in bytes, as counted against
// MaxBufferedBytes.
const trackEntrySize = int(unsafe.Sizeof(trackEntry{}))

// trackerMinCap is the capacity a tracker's array shrinks back to at
// most; it is kept while it is at least a quarter full.
const trackerMinCap = 1024

// newTracker starts a tracker whose commit point is unknown until the first
// record arrives.
func newTracker() *tracker { return &tracker{next: -1} }

// add registers a dispatched record. It reports false, and ignores the
// record, if the offset is not above every offset added so far.
func (t *tracker) add(offset int64, epoch int32, ts time.Time) bool {
	if n := len(t.entries); n > t.head && t.entries[n-1].offset >= offset {
		return false
	}
	if t.next > offset {
		return false
	}
	if t.head == len(t.entries) {
		t.entries, t.head = t.entries[:0], 0
		if t.next < 0 {
			t.next = offset
		}
	}
	t.entries = append(t.entries, trackEntry{offset: offset, epoch: epoch, ts: ts.UnixMilli()})
	return true
}

// finish marks offset done (as handled) and advances the commit point
// over every finished record at the front. It reports whether the point
// moved.
func (t *tracker) finish(offset int64) bool { return t.finishAs(offset, howHandled) }

// finishAs is finish for a record that ended as how. A catch-up's
// accounting counts records as the commit point passes them, so what it
// counts is what is committed.
func (t *tracker) finishAs(offset int64, how uint8) bool {
	pending := t.entries[t.head:]
	if len(pending) == 0 {
		return false
	}
	// Offsets are nearly always contiguous: try offset's place in a run
	// without holes before searching.
	i := int(offset - pending[0].offset)
	if i < 0 || i >= len(pending) || pending[i].offset != offset {
		i = sort.Search(len(pending), func(i int) bool { return pending[i].offset >= offset })
		if i == len(pending) || pending[i].offset != offset {
			return false
		}
	}
	pending[i].done, pending[i].how = true, how
	moved := false
	for t.head < len(t.entries) && t.entries[t.head].done {
		e := t.entries[t.head]
		if t.acct != nil {
			t.acct.pass(t.next, e.offset, e.how)
		}
		t.next, t.epoch = e.offset+1, e.epoch
		t.head++
		moved, t.advanced = true, true
	}
	if moved {
		t.reclaim()
	}
	return moved
}

// reclaim gives back the finished front of the array, and the array
// itself when it is mostly empty. The array grows to the most records
// ever pending at once, and without shrinking every partition's array
// would stay at its own worst moment: in a 4M-record catch-up on 64
// partitions their sum grew with the records consumed, to ~1M entries
// (40 MiB) while ~20k were pending.
func (t *tracker) reclaim() {
	n := len(t.entries) - t.head
	if size := 2 * max(n, trackerMinCap); cap(t.entries) > 2*size {
		e := make([]trackEntry, n, size)
		copy(e, t.entries[t.head:])
		t.entries, t.head = e, 0
		return
	}
	if t.head > trackerMinCap && t.head*2 > len(t.entries) { // the finished front
		copy(t.entries, t.entries[t.head:])
		t.entries, t.head = t.entries[:n], 0
	}
}

// skipTo moves the commit point of a tracker with nothing pending up to
// offset: the records before it are passed over (the replay floor).
func (t *tracker) skipTo(offset int64) {
	if t.head != len(t.entries) || t.next >= offset {
		return
	}
	t.next, t.epoch, t.advanced = offset, -1, true
}

// lowest returns the offset of the lowest record added and not finished:
// the one the commit point waits for.
func (t *tracker) lowest() (int64, bool) {
	if t.head == len(t.entries) {
		return 0, false
	}
	return t.entries[t.head].offset, true
}

// pending is the number of records added and not yet passed by the commit
// point.
func (t *tracker) pending() int { return len(t.entries) - t.head }

// oldest returns the timestamp of the lowest unfinished record.
func (t *tracker) oldest() (time.Time, bool) {
	if t.head == len(t.entries) {
		return time.Time{}, false
	}
	return time.UnixMilli(t.entries[t.head].ts), true
}

// commitPoint returns the offset to commit (the next record to read after a
// restart) and the leader epoch of the record before it. ok is false until
// some record has finished.
func (t *tracker) commitPoint() (offset int64, epoch int32, ok bool) {
	return t.next, t.epoch, t.advanced
}
