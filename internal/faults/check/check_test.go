package check

import (
	"slices"
	"testing"
	"time"

	"github.com/ordo-go/ordo/internal/faults/journal"
)

// A synthetic history: partition 0 holds key a at offsets 0, 2, 4 and key
// b at 1, 3; every record acknowledged at time 1.
func synthLog() []Record {
	return []Record{
		{0, 0, "a", 1}, {0, 1, "b", 1}, {0, 2, "a", 2}, {0, 3, "b", 2}, {0, 4, "a", 3},
	}
}

func acks(log []Record) []journal.Event {
	var out []journal.Event
	for _, r := range log {
		out = append(out, journal.Event{Kind: journal.Acked, Partition: r.Partition, Offset: r.Offset, Key: r.Key, Seq: r.Seq, Time: 1})
	}
	return out
}

func h(inc string, o int64, t0, t1 int64) journal.Event {
	rec := synthLog()[o]
	return journal.Event{Kind: journal.Handled, Inc: inc, Partition: 0, Offset: o, Key: rec.Key, Seq: rec.Seq, Start: t0, End: t1}
}

// good is a correct single-incarnation history.
func good() []journal.Event {
	return []journal.Event{h("A", 0, 10, 11), h("A", 1, 10, 12), h("A", 2, 12, 13), h("A", 3, 13, 14), h("A", 4, 14, 15)}
}

// assigned journals an assignment of partition 0 to A and B before
// anything happens, as the consumer worker does from ordo's OnAssigned hook.
func assigned() []journal.Event {
	return []journal.Event{
		{Kind: journal.Assigned, Inc: "A", Time: 1, Partitions: []int32{0}},
		{Kind: journal.Assigned, Inc: "B", Time: 1, Partitions: []int32{0}},
	}
}

func check(evs []journal.Event) *Report {
	return Check(append(append(acks(synthLog()), assigned()...), evs...), synthLog())
}

func TestCleanHistoryPasses(t *testing.T) {
	r := check(good())
	if err := r.Verdict(0); err != nil {
		t.Fatalf("clean history: %v", err)
	}
	if r.Acked != 5 || r.InLog != 5 || r.Handled != 5 || r.Handlings != 5 || r.Duplicates != 0 {
		t.Fatalf("counts: %+v", r)
	}
}

// Each case breaks one promise; the checker must report exactly that.
func TestEachCheckCanFail(t *testing.T) {
	tests := []struct {
		name  string
		evs   []journal.Event
		log   []Record // nil: synthLog
		count func(*Report) int
	}{
		{"lost: acknowledged, never handled", good()[:4], nil,
			func(r *Report) int { return len(r.Lost) }},
		{"lost: acknowledged, not in the topic", good(), synthLog()[:4],
			func(r *Report) int { return len(r.Lost) }},
		{"unhandled: in the topic, never handled", good()[1:], nil,
			func(r *Report) int { return len(r.Unhandled) }},
		{"mismatched: handled under another key", append(good(), journal.Event{Kind: journal.Handled, Inc: "A", Partition: 0, Offset: 1, Key: "zz", Seq: 1, Start: 20, End: 21}), nil,
			func(r *Report) int { return len(r.Mismatched) }},
		{"before-predecessor: a@2 starts before a@0 ends",
			[]journal.Event{h("A", 0, 10, 20), h("B", 2, 15, 16), h("A", 1, 10, 12), h("A", 3, 13, 14), h("B", 4, 21, 22)}, nil,
			func(r *Report) int { return len(r.Violations[BeforePredecessor]) }},
		{"offset-back: a@0 again in one incarnation",
			append(good(), h("A", 0, 16, 17)), nil,
			func(r *Report) int { return len(r.Violations[OffsetBack]) }},
		{"skip: a@0 then a@4 in one incarnation, a@2 by nobody before",
			[]journal.Event{h("A", 0, 10, 11), h("A", 1, 10, 12), h("A", 4, 12, 13), h("A", 3, 13, 14), h("B", 2, 30, 31)}, nil,
			func(r *Report) int { return len(r.Violations[Skip]) }},
		{"overlap: two handlings of key b at once",
			[]journal.Event{h("A", 0, 10, 11), h("A", 1, 10, 20), h("A", 2, 12, 13), h("B", 3, 19, 21), h("A", 4, 14, 15)}, nil,
			func(r *Report) int { return len(r.Violations[Overlap]) }},
		{"written out of order: a#2 before a#1 in the topic", good(),
			[]Record{{0, 0, "a", 2}, {0, 1, "b", 1}, {0, 2, "a", 1}, {0, 3, "b", 2}, {0, 4, "a", 3}},
			func(r *Report) int { return len(r.Written) }},
		{"written twice: b#1 at two offsets", good(),
			[]Record{{0, 0, "a", 1}, {0, 1, "b", 1}, {0, 2, "a", 2}, {0, 3, "b", 1}, {0, 4, "a", 3}},
			func(r *Report) int { return len(r.Written) }},
		{"after-dead-letter: a@2 dead-lettered, a@4 handled",
			append(good()[:2], dead(2), h("A", 3, 13, 14), h("A", 4, 14, 15)), nil,
			func(r *Report) int { return len(r.Violations[AfterDeadLetter]) }},
		{"dead-letter-order: a@4 before a@2 in the dead-letter topic",
			append(good()[:2], h("A", 3, 13, 14), dead(4), dead(2)), nil,
			func(r *Report) int { return len(r.Violations[DeadLetterOrder]) }},
		{"mismatched: a dead letter naming another key",
			append(good()[:4], journal.Event{Kind: journal.Dead, Partition: 0, Offset: 4, Key: "zz", Time: 15}), nil,
			func(r *Report) int { return len(r.Mismatched) }},
		{"dead-pending only: never reached the dead-letter topic",
			append(good()[:4], journal.Event{Kind: journal.DeadPending, Inc: "A", Partition: 0, Offset: 4, Key: "a", Time: 15}), nil,
			func(r *Report) int { return len(r.Lost) }},
		{"replay accounting: backlog 10, accounted 7 + remaining 2",
			append(good(), journal.Event{Kind: journal.Replay, Inc: "A", Text: `{"CatchUps":1,"Backlog":10,"Handled":5,"Gaps":2,"Remaining":2}`}), nil,
			func(r *Report) int { return len(r.Replay) }},
		{"unexplained duplicate: handled twice, no fault",
			append(good(), h("B", 4, 30, 31)), nil,
			func(r *Report) int { return r.Unexplained }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := tt.log
			if log == nil {
				log = synthLog()
			}
			r := Check(append(append(acks(synthLog()), assigned()...), tt.evs...), log)
			if got := tt.count(r); got == 0 {
				t.Fatalf("the check did not fire: %+v", r)
			}
			if err := r.Verdict(0); err == nil {
				t.Fatalf("Verdict passed a broken history: %+v", r)
			}
		})
	}
}

// A record handled by an incarnation killed while the group's committed
// offset was at or below it is expected to come again: an explained
// duplicate, not a failure. Above the commit point only.
func TestDuplicatesAboveCommitAreExplained(t *testing.T) {
	kill := journal.Event{Kind: journal.Fault, Fault: "kill", Target: "A", Time: 16, Committed: map[int32]int64{0: 3}}
	evs := append(good(), kill, h("B", 3, 20, 21), h("B", 4, 21, 22))
	r := check(evs)
	if r.Duplicates != 2 || r.Explained != 2 || r.Unexplained != 0 {
		t.Fatalf("duplicates %d explained %d unexplained %d, want 2 2 0", r.Duplicates, r.Explained, r.Unexplained)
	}
	if err := r.Verdict(0); err != nil {
		t.Fatal(err)
	}
	// Redelivery below the commit point is a duplicate ordo did not promise.
	evs = append(evs, h("B", 2, 19, 20))
	if r := check(evs); r.Unexplained != 1 || r.Verdict(0) == nil {
		t.Fatalf("a redelivery below the committed offset was explained: %+v", r)
	}
}

// A partition that moved away and back (a rebalance line, or another
// incarnation handling it meanwhile) makes a step back legitimate.
func TestReassignmentAllowsStepBack(t *testing.T) {
	back := append(good(), h("A", 4, 30, 31))
	if r := check(back); len(r.Violations[OffsetBack]) != 1 {
		t.Fatalf("step back without reassignment not reported: %+v", r.Violations)
	}
	withLog := append(back, journal.Event{Kind: journal.Assigned, Inc: "A", Time: 20, Partitions: []int32{0}})
	if r := check(withLog); len(r.Violations[OffsetBack]) != 0 {
		t.Fatalf("step back after a journaled reassignment reported: %v", r.Violations)
	}
	other := append(back, journal.Event{Kind: journal.Assigned, Inc: "A", Time: 20, Partitions: []int32{1}})
	if r := check(other); len(r.Violations[OffsetBack]) != 1 {
		t.Fatalf("a reassignment of another partition excused the step back: %v", r.Violations)
	}
	byOther := append(back, h("B", 4, 20, 21))
	if r := check(byOther); len(r.Violations[OffsetBack]) != 0 {
		t.Fatalf("step back after another incarnation handled the partition reported: %v", r.Violations)
	}
}

func TestDeadLetteredIsNotLost(t *testing.T) {
	evs := append(good()[:4], journal.Event{Kind: journal.Dead, Inc: "A", Partition: 0, Offset: 4, Key: "a", Seq: 3, Time: 15})
	if err := check(evs).Verdict(0); err != nil {
		t.Fatal(err)
	}
}

func TestRecovery(t *testing.T) {
	// Killed at 12 with a@2.. pending; B resumes at 20 and finishes at 23.
	kill := journal.Event{Kind: journal.Fault, Fault: "kill", Target: "A", Time: 12, Committed: map[int32]int64{0: 2}}
	evs := []journal.Event{h("A", 0, 10, 11), h("A", 1, 10, 11), kill, h("B", 2, 20, 21), h("B", 3, 21, 22), h("B", 4, 22, 23)}
	r := check(evs)
	if err := r.Verdict(0); err != nil {
		t.Fatal(err)
	}
	if len(r.Recoveries) != 1 {
		t.Fatalf("recoveries %v", r.Recoveries)
	}
	if rc := r.Recoveries[0]; rc.FirstHandled != 8 || rc.CaughtUp != 11 {
		t.Fatalf("recovery %+v, want first 8ns, caught up 11ns", rc)
	}
}

// After a kill, the partition is caught up when a record written after the
// fault is handled within a second of being written, not before.
func TestRecoveryWaitsForFreshRecords(t *testing.T) {
	sec := int64(time.Second)
	log := []Record{{0, 0, "a", 1}, {0, 1, "a", 2}, {0, 2, "a", 3}}
	evs := []journal.Event{
		{Kind: journal.Acked, Partition: 0, Offset: 0, Key: "a", Seq: 1, Time: 1 * sec},
		{Kind: journal.Acked, Partition: 0, Offset: 1, Key: "a", Seq: 2, Time: 3 * sec},
		{Kind: journal.Acked, Partition: 0, Offset: 2, Key: "a", Seq: 3, Time: 9 * sec},
		{Kind: journal.Handled, Inc: "A", Partition: 0, Offset: 0, Key: "a", Seq: 1, Start: 1 * sec, End: 1*sec + 1},
		{Kind: journal.Fault, Fault: "kill", Target: "A", Time: 2 * sec, Committed: map[int32]int64{0: 1}},
		// Six seconds behind, then quick again.
		{Kind: journal.Handled, Inc: "B", Partition: 0, Offset: 1, Key: "a", Seq: 2, Start: 9 * sec, End: 9 * sec},
		{Kind: journal.Handled, Inc: "B", Partition: 0, Offset: 2, Key: "a", Seq: 3, Start: 9*sec + 1, End: 9*sec + 2},
	}
	r := Check(append(evs, assigned()...), log)
	if err := r.Verdict(0); err != nil {
		t.Fatal(err)
	}
	if got, want := r.Recoveries[0].CaughtUp, 7*time.Second+2; got != want {
		t.Fatalf("caught up after %v, want %v", got, want)
	}
}

// Without the assignment hook's lines the order checks lose their evidence
// of reassignment: the checker says so instead of guessing.
func TestIncarnationWithoutAssignmentFails(t *testing.T) {
	r := Check(append(acks(synthLog()), good()...), synthLog())
	if len(r.Unassigned) != 1 || r.Unassigned[0] != "A" || r.Verdict(0) == nil {
		t.Fatalf("unassigned %v, verdict %v", r.Unassigned, r.Verdict(0))
	}
}

// dead is a dead letter of the synthetic log's record at offset o, as the
// runner journals it from the dead-letter topic.
func dead(o int64) journal.Event {
	rec := synthLog()[o]
	return journal.Event{Kind: journal.Dead, Partition: 0, Offset: o, Key: rec.Key, Seq: rec.Seq, Time: 20 + o}
}

// Quarantine: after a@2 is dead-lettered, a@4 follows it to the
// dead-letter topic, in order; a key's records before it are handled, and
// another key flows. A dead letter written twice is counted, not an order
// break; an accounting that adds up passes.
func TestQuarantinedKeyPasses(t *testing.T) {
	evs := append(good()[:2], h("A", 3, 13, 14), dead(2), dead(4), dead(2),
		journal.Event{Kind: journal.DeadPending, Inc: "A", Partition: 0, Offset: 2, Key: "a", Time: 19},
		journal.Event{Kind: journal.Replay, Inc: "A", Text: `{"CatchUps":1,"Backlog":10,"Handled":5,"DeadLettered":2,"Gaps":1,"Remaining":2}`})
	r := check(evs)
	if err := r.Verdict(0); err != nil {
		t.Fatal(err)
	}
	if r.DeadLettered != 2 || r.DeadDuplicates != 1 || r.DeadPending != 1 || r.CatchUps != 1 {
		t.Fatalf("dead %d, duplicates %d, pending %d, catch-ups %d; want 2 1 1 1", r.DeadLettered, r.DeadDuplicates, r.DeadPending, r.CatchUps)
	}
}

// A revoke hands a partition over at its finished prefix: records handled
// above a record nobody had finished are handled again by the next owner,
// as ordo's commit rule promises; records at or below it are not.
func TestDuplicatesAboveHandoverAreExplained(t *testing.T) {
	// A handles 1 and 3 (key b) but not 0 (key a) when 0 is revoked at 16;
	// B then handles everything from 0.
	revoke := journal.Event{Kind: journal.Revoked, Inc: "A", Time: 16, Partitions: []int32{0}}
	evs := []journal.Event{h("A", 1, 10, 11), h("A", 3, 11, 12), revoke,
		h("B", 0, 20, 21), h("B", 1, 21, 22), h("B", 2, 22, 23), h("B", 3, 23, 24), h("B", 4, 24, 25)}
	r := check(evs)
	if r.Duplicates != 2 || r.Explained != 2 || r.Verdict(0) != nil {
		t.Fatalf("duplicates %d explained %d unexplained %d (%v), want 2 2 0", r.Duplicates, r.Explained, r.Unexplained, r.Verdict(0))
	}
	// With 0 finished before the revoke, the commit covered 1 (3 is still
	// above the unfinished 2): 1's second handling is a duplicate ordo did
	// not promise.
	evs = append([]journal.Event{h("A", 0, 9, 10)}, evs...)
	evs = slices.DeleteFunc(evs, func(e journal.Event) bool { return e.Inc == "B" && e.Offset == 0 })
	if r := check(evs); r.Unexplained != 1 || r.Verdict(0) == nil {
		t.Fatalf("redelivery below the handover's finished prefix explained: %+v", r)
	}
	// A revoke that does not name the partition explains nothing.
	other := journal.Event{Kind: journal.Revoked, Inc: "A", Time: 16, Partitions: []int32{1}}
	evs = []journal.Event{h("A", 1, 10, 11), h("A", 3, 11, 12), other,
		h("B", 0, 20, 21), h("B", 1, 21, 22), h("B", 2, 22, 23), h("B", 3, 23, 24), h("B", 4, 24, 25)}
	if r := check(evs); r.Unexplained != 2 {
		t.Fatalf("a revoke of another partition explained duplicates: %+v", r)
	}
}
