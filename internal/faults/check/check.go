package check

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ordo-go/ordo/internal/faults/journal"
)

// Record is one record of the topic, as a raw client read it.
type Record struct {
	Partition int32
	Offset    int64
	Key       string
	Seq       int64
}

// Violation kinds: the four ways per-key order can break.
const (
	// BeforePredecessor: a record's first handling started before the
	// first completed handling of the key's previous record ended.
	BeforePredecessor = "before-predecessor"
	// OffsetBack: within one incarnation, a key was handled at an offset at
	// or below one it had already handled, with no reassignment between.
	OffsetBack = "offset-back"
	// Skip: within one incarnation, a key jumped over its next record in
	// the log, with no reassignment between.
	Skip = "skip"
	// Overlap: two handlings of one key, by any incarnations, overlapped in
	// time.
	Overlap = "overlap"
	// AfterDeadLetter: a key's record was handled after an earlier record
	// of the key in its partition was dead-lettered (quarantine broken).
	AfterDeadLetter = "after-dead-letter"
	// DeadLetterOrder: in the dead-letter topic, a key's dead letters are
	// not in their original offsets' order.
	DeadLetterOrder = "dead-letter-order"
)

// Kinds lists the violation kinds in report order.
var Kinds = []string{BeforePredecessor, OffsetBack, Skip, Overlap, AfterDeadLetter, DeadLetterOrder}

// Recovery is how a fault was recovered from.
type Recovery struct {
	Fault  string
	Target string
	At     time.Time
	// FirstHandled is the time from the fault to the first handling that
	// started after it; -1 if none did.
	FirstHandled time.Duration
	// CaughtUp is the time from the fault until every partition was
	// caught up again: a record acknowledged after the fault handled within
	// a second of its acknowledgement (0 if no partition fell behind).
	CaughtUp time.Duration
}

// Report is the checker's verdict data for one scenario.
type Report struct {
	Acked     int // records the producer journaled as acknowledged
	InLog     int // records in the topic
	Handled   int // distinct records handled or dead-lettered
	Handlings int // handled lines, duplicates included

	PublishFailed int // publishes the producer saw fail (not acknowledged)
	RecordErrors  int // records the consumer reported it could not handle

	// Lost lists acknowledged records that were never handled nor
	// dead-lettered, and acknowledged records missing from the topic.
	Lost []string
	// Unhandled lists records in the topic (acknowledged or not) that were
	// never handled nor dead-lettered.
	Unhandled []string
	// Mismatched lists handlings whose (key, seq) is not the record's at
	// their (partition, offset).
	Mismatched []string
	// Unassigned lists incarnations that handled records but journaled no
	// assignment: ordo's OnAssigned hook did not reach the consumer
	// worker's journal, and the order checks would lose their
	// reassignment evidence.
	Unassigned []string
	// Written lists producer-side breaks of per-key order in the topic: a
	// key's seq that does not grow with the offset (written out of order,
	// or written twice).
	Written []string

	// DeadLettered counts records found in the dead-letter topic,
	// DeadPending the ones the consumer reported on their way there, and
	// DeadDuplicates the dead letters beyond a record's first.
	DeadLettered, DeadPending, DeadDuplicates int

	// CatchUps counts the catch-ups the consumers' graceful exits
	// reported; Replay lists exits whose catch-up accounting does not add
	// up (Backlog != Accounted + Remaining).
	CatchUps int64
	Replay   []string

	Duplicates  int // handlings beyond the first of a record
	Explained   int // of those, explained by a fault above the commit point
	Unexplained int // Duplicates - Explained

	// Violations holds one line per violation, by kind.
	Violations map[string][]string
	Recoveries []Recovery
}

// ViolationCount is the number of order violations of every kind.
func (r *Report) ViolationCount() int {
	n := 0
	for _, v := range r.Violations {
		n += len(v)
	}
	return n
}

// MaxRecovery returns the longest CaughtUp of the report's recoveries.
func (r *Report) MaxRecovery() time.Duration {
	var m time.Duration
	for _, rc := range r.Recoveries {
		m = max(m, rc.CaughtUp)
	}
	return m
}

// Verdict returns nil if nothing was lost or left unhandled, no handling
// was mismatched, no order was violated and at most maxUnexplained
// duplicates were unexplained; else an error saying what failed.
func (r *Report) Verdict(maxUnexplained int) error {
	var probs []string
	add := func(name string, items []string) {
		if len(items) > 0 {
			probs = append(probs, fmt.Sprintf("%d %s (first: %s)", len(items), name, items[0]))
		}
	}
	add("lost", r.Lost)
	add("unhandled", r.Unhandled)
	add("mismatched", r.Mismatched)
	add("written out of order", r.Written)
	add("incarnations without a journaled assignment", r.Unassigned)
	add("catch-up accountings that do not add up", r.Replay)
	for _, k := range Kinds {
		add("order violations "+k, r.Violations[k])
	}
	if r.Unexplained > maxUnexplained {
		probs = append(probs, fmt.Sprintf("%d unexplained duplicates, want at most %d", r.Unexplained, maxUnexplained))
	}
	if len(probs) == 0 {
		return nil
	}
	return fmt.Errorf("check: %s", strings.Join(probs, "; "))
}

type ref struct {
	p int32
	o int64
}

func (x ref) String() string { return fmt.Sprintf("p%d@%d", x.p, x.o) }

type pkey struct {
	p int32
	k string
}

// Check checks the journals' events against the topic's records.
func Check(events []journal.Event, log []Record) *Report {
	c := newChecker(events, log)
	r := &Report{Violations: map[string][]string{}}
	c.loss(r)
	c.written(r)
	c.assignments(r)
	c.duplicates(r)
	c.predecessors(r)
	c.incarnations(r)
	c.overlaps(r)
	c.recoveries(r)
	c.deadLetters(r)
	c.replay(r)
	return r
}

type checker struct {
	log      map[ref]Record
	next     map[ref]int64 // the key's next offset in its partition, if any
	prev     map[ref]int64 // the key's previous offset in its partition, if any
	acked    []journal.Event
	handled  []journal.Event // sorted by Start
	byRecord map[ref][]journal.Event
	dead     map[ref]journal.Event
	rebal    map[string][]journal.Event // by incarnation, in time order
	faults   []journal.Event
	logOrder []Record
	deadSeq  []journal.Event // dead letters in the dead-letter topic's order
	replays  []journal.Event
	pending  int

	failed, recordErrors int
}

func newChecker(events []journal.Event, log []Record) *checker {
	c := &checker{
		log: map[ref]Record{}, next: map[ref]int64{}, prev: map[ref]int64{},
		byRecord: map[ref][]journal.Event{}, dead: map[ref]journal.Event{},
		rebal: map[string][]journal.Event{},
	}
	c.logOrder = slices.Clone(log)
	sort.Slice(c.logOrder, func(i, j int) bool {
		a, b := c.logOrder[i], c.logOrder[j]
		return a.Partition < b.Partition || a.Partition == b.Partition && a.Offset < b.Offset
	})
	last := map[pkey]int64{}
	for _, rec := range c.logOrder {
		at := ref{rec.Partition, rec.Offset}
		c.log[at] = rec
		pk := pkey{rec.Partition, rec.Key}
		if o, ok := last[pk]; ok {
			c.next[ref{rec.Partition, o}] = rec.Offset
			c.prev[at] = o
		}
		last[pk] = rec.Offset
	}
	for _, e := range events {
		switch e.Kind {
		case journal.Acked:
			c.acked = append(c.acked, e)
		case journal.Handled:
			c.handled = append(c.handled, e)
		case journal.Failed:
			c.failed++
		case journal.RecordError:
			c.recordErrors++
		case journal.Dead:
			at := ref{e.Partition, e.Offset}
			if _, ok := c.dead[at]; !ok {
				c.dead[at] = e
			}
			c.deadSeq = append(c.deadSeq, e)
		case journal.DeadPending:
			c.pending++
		case journal.Replay:
			c.replays = append(c.replays, e)
		case journal.Assigned, journal.Revoked, journal.Lost:
			c.rebal[e.Inc] = append(c.rebal[e.Inc], e)
		case journal.Fault:
			c.faults = append(c.faults, e)
		}
	}
	sort.SliceStable(c.handled, func(i, j int) bool { return c.handled[i].Start < c.handled[j].Start })
	for _, h := range c.handled {
		at := ref{h.Partition, h.Offset}
		c.byRecord[at] = append(c.byRecord[at], h)
	}
	sort.SliceStable(c.faults, func(i, j int) bool { return c.faults[i].Time < c.faults[j].Time })
	return c
}

func (c *checker) done(at ref) bool {
	_, dead := c.dead[at]
	return dead || len(c.byRecord[at]) > 0
}

func (c *checker) loss(r *Report) {
	r.Acked, r.InLog, r.Handlings = len(c.acked), len(c.log), len(c.handled)
	r.PublishFailed, r.RecordErrors = c.failed, c.recordErrors
	for _, a := range c.acked {
		at := ref{a.Partition, a.Offset}
		rec, ok := c.log[at]
		switch {
		case !ok:
			r.Lost = append(r.Lost, fmt.Sprintf("%s %s#%d acknowledged, not in the topic", at, a.Key, a.Seq))
		case rec.Key != a.Key || rec.Seq != a.Seq:
			r.Lost = append(r.Lost, fmt.Sprintf("%s %s#%d acknowledged, the topic holds %s#%d there", at, a.Key, a.Seq, rec.Key, rec.Seq))
		case !c.done(at):
			r.Lost = append(r.Lost, fmt.Sprintf("%s %s#%d acknowledged, never handled", at, a.Key, a.Seq))
		}
	}
	for _, rec := range c.logOrder {
		at := ref{rec.Partition, rec.Offset}
		if c.done(at) {
			r.Handled++
		} else {
			r.Unhandled = append(r.Unhandled, fmt.Sprintf("%s %s#%d never handled", at, rec.Key, rec.Seq))
		}
	}
	for _, h := range c.handled {
		at := ref{h.Partition, h.Offset}
		if rec, ok := c.log[at]; !ok || rec.Key != h.Key || rec.Seq != h.Seq {
			r.Mismatched = append(r.Mismatched, fmt.Sprintf("%s handled as %s#%d by %s", at, h.Key, h.Seq, h.Inc))
		}
	}
}

func (c *checker) assignments(r *Report) {
	seen := map[string]bool{}
	for _, h := range c.handled {
		if seen[h.Inc] {
			continue
		}
		seen[h.Inc] = true
		assigned := false
		for _, e := range c.rebal[h.Inc] {
			assigned = assigned || e.Kind == journal.Assigned
		}
		if !assigned {
			r.Unassigned = append(r.Unassigned, h.Inc)
		}
	}
	slices.Sort(r.Unassigned)
}

// written checks the producer's half of per-key order: in the topic, each
// key's seqs grow with the offset. The producer numbers each key's events
// 1, 2, 3, ... in publish order; an idempotent producer neither reorders
// nor repeats them (gaps are publishes that failed).
func (c *checker) written(r *Report) {
	for at, prev := range c.prev {
		rec, p := c.log[at], c.log[ref{at.p, prev}]
		if rec.Seq <= p.Seq {
			r.Written = append(r.Written, fmt.Sprintf("%s %s#%d after %s#%d at %s", at, rec.Key, rec.Seq, p.Key, p.Seq, ref{at.p, prev}))
		}
	}
	slices.Sort(r.Written)
}

// duplicates counts handlings beyond a record's first, and explains as
// many of them as the record has handlings by incarnations that a fault
// ended while their group's committed offset was at or below the record,
// or that handed the partition over (a revoke) while a record below it
// was unfinished: ordo commits only the finished prefix, so it promises
// redelivery of exactly those.
func (c *checker) duplicates(r *Report) {
	ended := map[string]map[int32]int64{}
	for _, f := range c.faults {
		if f.Committed != nil && f.Target != "" {
			ended[f.Target] = f.Committed
		}
	}
	for at, hs := range c.byRecord {
		extra := len(hs) - 1
		if extra <= 0 {
			continue
		}
		expl := 0
		for _, h := range hs {
			if com, ok := ended[h.Inc]; ok && at.o >= committedOr(com, at.p) || c.aboveHandover(h) {
				expl++
			}
		}
		expl = min(expl, extra)
		r.Duplicates += extra
		r.Explained += expl
	}
	r.Unexplained = r.Duplicates - r.Explained
}

// aboveHandover reports whether h's incarnation revoked h's partition
// after h ended while some record of the partition below h's was not yet
// finished by anyone: the commit at the revoke stopped below that record,
// so the next owner handles h's record again. A revoke journaled without
// its partitions (nil) explains nothing.
func (c *checker) aboveHandover(h journal.Event) bool {
	var at int64 = -1
	for _, e := range c.rebal[h.Inc] {
		if e.Kind == journal.Revoked && e.Time > h.End && slices.Contains(e.Partitions, h.Partition) {
			at = e.Time
			break
		}
	}
	if at < 0 {
		return false
	}
	for _, rec := range c.partLog(h.Partition) {
		if rec.Offset >= h.Offset {
			return false
		}
		if end, ok := c.firstEnd(ref{rec.Partition, rec.Offset}); !ok || end > at {
			return true
		}
	}
	return false
}

// partLog returns partition p's records in offset order.
func (c *checker) partLog(p int32) []Record {
	i := sort.Search(len(c.logOrder), func(i int) bool { return c.logOrder[i].Partition >= p })
	j := sort.Search(len(c.logOrder), func(i int) bool { return c.logOrder[i].Partition > p })
	return c.logOrder[i:j]
}

// committedOr returns the committed offset of p, or 0 (the group starts at
// the beginning) when none was committed.
func committedOr(com map[int32]int64, p int32) int64 {
	if o, ok := com[p]; ok && o >= 0 {
		return o
	}
	return 0
}

func (c *checker) predecessors(r *Report) {
	for at, hs := range c.byRecord {
		po, ok := c.prev[at]
		if !ok {
			continue
		}
		pat := ref{at.p, po}
		end, ok := c.firstEnd(pat)
		if !ok {
			continue // the predecessor was never handled: reported as lost
		}
		if first := hs[0]; first.Start < end {
			r.Violations[BeforePredecessor] = append(r.Violations[BeforePredecessor],
				fmt.Sprintf("%s key %s started by %s %s before %s ended", at, first.Key, first.Inc,
					time.Duration(end-first.Start), pat))
		}
	}
	sortViolations(r, BeforePredecessor)
}

// firstEnd is when the first completed handling (or the dead-lettering) of
// the record at at ended.
func (c *checker) firstEnd(at ref) (int64, bool) {
	end, ok := int64(0), false
	for _, h := range c.byRecord[at] {
		if !ok || h.End < end {
			end, ok = h.End, true
		}
	}
	if d, dead := c.dead[at]; dead && (!ok || d.Time < end) {
		end, ok = d.Time, true
	}
	return end, ok
}

// incarnations checks, per incarnation and key, that each handling is at
// the key's next record after the previous one, unless the partition was
// reassigned in between.
func (c *checker) incarnations(r *Report) {
	last := map[string]map[pkey]journal.Event{}
	for _, h := range c.handled {
		byKey := last[h.Inc]
		if byKey == nil {
			byKey = map[pkey]journal.Event{}
			last[h.Inc] = byKey
		}
		pk := pkey{h.Partition, h.Key}
		prev, ok := byKey[pk]
		byKey[pk] = h
		if !ok || c.reassigned(h.Inc, h.Partition, prev.End, h.Start) {
			continue
		}
		switch next, hasNext := c.next[ref{prev.Partition, prev.Offset}]; {
		case h.Offset <= prev.Offset:
			r.Violations[OffsetBack] = append(r.Violations[OffsetBack],
				fmt.Sprintf("p%d key %s: %s handled @%d after @%d", h.Partition, h.Key, h.Inc, h.Offset, prev.Offset))
		case hasNext && h.Offset > next:
			r.Violations[Skip] = append(r.Violations[Skip],
				fmt.Sprintf("p%d key %s: %s handled @%d after @%d, skipping @%d", h.Partition, h.Key, h.Inc, h.Offset, prev.Offset, next))
		}
	}
	sortViolations(r, OffsetBack)
	sortViolations(r, Skip)
}

// reassigned reports whether partition p may have left incarnation inc and
// come back between from and to: inc journaled a rebalance of p, or another
// incarnation handled a record of p, in that window.
func (c *checker) reassigned(inc string, p int32, from, to int64) bool {
	for _, e := range c.rebal[inc] {
		if e.Time >= from && e.Time <= to && (e.Partitions == nil || slices.Contains(e.Partitions, p)) {
			return true
		}
	}
	i := sort.Search(len(c.handled), func(i int) bool { return c.handled[i].Start >= from })
	for ; i < len(c.handled) && c.handled[i].Start <= to; i++ {
		if h := c.handled[i]; h.Partition == p && h.Inc != inc {
			return true
		}
	}
	return false
}

func (c *checker) overlaps(r *Report) {
	type open struct {
		end int64
		h   journal.Event
	}
	latest := map[pkey]open{}
	for _, h := range c.handled {
		pk := pkey{h.Partition, h.Key}
		if o, ok := latest[pk]; ok && h.Start < o.end {
			r.Violations[Overlap] = append(r.Violations[Overlap],
				fmt.Sprintf("p%d key %s: @%d by %s started %s before @%d by %s ended", h.Partition, h.Key,
					h.Offset, h.Inc, time.Duration(o.end-h.Start), o.h.Offset, o.h.Inc))
		}
		if o, ok := latest[pk]; !ok || h.End > o.end {
			latest[pk] = open{h.End, h}
		}
	}
	sortViolations(r, Overlap)
}

// caughtUpLatency is how soon after its acknowledgement a record must be
// handled for its partition to count as caught up again.
const caughtUpLatency = time.Second

func (c *checker) recoveries(r *Report) {
	doneAt := map[ref]int64{} // when each record was first finished
	for at := range c.log {
		if end, ok := c.firstEnd(at); ok {
			doneAt[at] = end
		}
	}
	for _, f := range c.faults {
		rc := Recovery{Fault: f.Fault, Target: f.Target, At: time.Unix(0, f.Time), FirstHandled: -1}
		// The target's own last handlings may start while the signal is
		// on its way: they are not a recovery.
		i := sort.Search(len(c.handled), func(i int) bool { return c.handled[i].Start > f.Time })
		for ; i < len(c.handled); i++ {
			if c.handled[i].Inc != f.Target {
				rc.FirstHandled = time.Duration(c.handled[i].Start - f.Time)
				break
			}
		}
		for _, at := range c.caughtUp(f.Time, doneAt) {
			rc.CaughtUp = max(rc.CaughtUp, time.Duration(at-f.Time))
		}
		r.Recoveries = append(r.Recoveries, rc)
	}
}

// caughtUp returns, per partition, when it caught up after a fault at
// time f: the first time a record acknowledged after f was handled within
// caughtUpLatency of its acknowledgement; else (no record after f, or
// none handled that soon) when its last record was finished.
func (c *checker) caughtUp(f int64, doneAt map[ref]int64) map[int32]int64 {
	fresh := map[int32]int64{}  // first quick finish of a record acked after f
	latest := map[int32]int64{} // last finish of any record
	for _, a := range c.acked {
		at := ref{a.Partition, a.Offset}
		end, ok := doneAt[at]
		if !ok {
			continue // lost: reported as such
		}
		latest[at.p] = max(latest[at.p], end)
		if a.Time > f && end-a.Time <= int64(caughtUpLatency) {
			if cur, ok := fresh[at.p]; !ok || end < cur {
				fresh[at.p] = end
			}
		}
	}
	out := map[int32]int64{}
	for p, last := range latest {
		if at, ok := fresh[p]; ok {
			out[p] = at
		} else {
			out[p] = last
		}
	}
	return out
}

func sortViolations(r *Report, kind string) {
	if v := r.Violations[kind]; len(v) > 0 {
		slices.Sort(v)
	}
}

// deadLetters checks the dead letters (journaled by whoever read the
// dead-letter topic, in its order): each is the record at its original
// offset; with quarantine no later record of a dead-lettered key is
// handled in its partition; and a key's dead letters keep their offsets'
// order.
func (c *checker) deadLetters(r *Report) {
	r.DeadLettered, r.DeadPending = len(c.dead), c.pending
	r.DeadDuplicates = len(c.deadSeq) - len(c.dead)
	firstDead := map[pkey]int64{}
	lastDead := map[pkey]int64{}
	seen := map[ref]bool{}
	for _, d := range c.deadSeq {
		at := ref{d.Partition, d.Offset}
		if rec, ok := c.log[at]; !ok || rec.Key != d.Key {
			r.Mismatched = append(r.Mismatched, fmt.Sprintf("%s dead-lettered as key %s", at, d.Key))
		}
		if seen[at] {
			continue // written twice: counted, not an order break
		}
		seen[at] = true
		pk := pkey{d.Partition, d.Key}
		if o, ok := firstDead[pk]; !ok || d.Offset < o {
			firstDead[pk] = d.Offset
		}
		if o, ok := lastDead[pk]; ok && d.Offset < o {
			r.Violations[DeadLetterOrder] = append(r.Violations[DeadLetterOrder],
				fmt.Sprintf("p%d key %s: @%d dead-lettered after @%d", d.Partition, d.Key, d.Offset, o))
		}
		lastDead[pk] = max(lastDead[pk], d.Offset)
	}
	for _, h := range c.handled {
		if o, ok := firstDead[pkey{h.Partition, h.Key}]; ok && h.Offset > o {
			r.Violations[AfterDeadLetter] = append(r.Violations[AfterDeadLetter],
				fmt.Sprintf("p%d key %s: @%d handled by %s after @%d was dead-lettered", h.Partition, h.Key, h.Offset, h.Inc, o))
		}
	}
	sortViolations(r, DeadLetterOrder)
	sortViolations(r, AfterDeadLetter)
}

// replayStats is the part of consumer.ReplayStats the checker adds up.
type replayStats struct {
	CatchUps, Remaining, Backlog                                     int64
	Handled, Skipped, Expired, DeadLettered, Floor, Gaps, HandedOver int64
}

// replay checks each graceful exit's catch-up accounting: every offset of
// a backlog is accounted for one way or another, or still remaining.
func (c *checker) replay(r *Report) {
	for _, e := range c.replays {
		var s replayStats
		if err := json.Unmarshal([]byte(e.Text), &s); err != nil {
			r.Replay = append(r.Replay, fmt.Sprintf("%s: %v", e.Inc, err))
			continue
		}
		r.CatchUps += s.CatchUps
		acc := s.Handled + s.Skipped + s.Expired + s.DeadLettered + s.Floor + s.Gaps + s.HandedOver
		if s.Backlog != acc+s.Remaining {
			r.Replay = append(r.Replay, fmt.Sprintf("%s: backlog %d != accounted %d + remaining %d (%s)",
				e.Inc, s.Backlog, acc, s.Remaining, e.Text))
		}
	}
}
