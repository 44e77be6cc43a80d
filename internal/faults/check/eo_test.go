package check

import (
	"fmt"
	"slices"
	"testing"

	"github.com/ordo-go/ordo/internal/faults/journal"
)

// An outbox history: key a committed #1, #2, #3 and key b #1, #2, all on
// partition 0; relay r1 was killed, r2 was not.
func outboxCommits() []journal.Event {
	var out []journal.Event
	for _, ks := range []keySeq{{"a", 1}, {"b", 1}, {"a", 2}, {"b", 2}, {"a", 3}} {
		out = append(out, journal.Event{Kind: journal.Committed, Key: ks.k, Seq: ks.s, Text: fmt.Sprintf("id-%s%d", ks.k, ks.s)})
	}
	return append(out, journal.Event{Kind: journal.Fault, Fault: "kill", Target: "r1"})
}

// sent lays out records on partition 0 at offsets 0, 1, ... as key#seq,
// with their committed IDs, written by producer.
func sent(producer string, kss ...keySeq) []Sent {
	var out []Sent
	for i, ks := range kss {
		out = append(out, Sent{Partition: 0, Offset: int64(i), Key: ks.k, Seq: ks.s, EventID: fmt.Sprintf("id-%s%d", ks.k, ks.s), Producer: producer})
	}
	return out
}

var a1, a2, a3, b1, b2 = keySeq{"a", 1}, keySeq{"a", 2}, keySeq{"a", 3}, keySeq{"b", 1}, keySeq{"b", 2}

func TestOutboxCleanAndExplainedPass(t *testing.T) {
	r := Outbox(outboxCommits(), sent("r2", a1, b1, a2, b2, a3))
	if err := r.Verdict(); err != nil || r.Published != 5 || r.Duplicates != 0 {
		t.Fatalf("clean history: %v, %+v", err, r)
	}
	// r1 published a1, b1, a2 and was killed before its mark; r2 published
	// them again and went on.
	log := sent("r2", a1, b1, a2, a1, b1, a2, b2, a3)
	for i := range 3 {
		log[i].Producer = "r1"
	}
	r = Outbox(outboxCommits(), log)
	if err := r.Verdict(); err != nil || r.Duplicates != 3 || r.Explained != 3 {
		t.Fatalf("duplicates after a kill: %v, %+v", err, r)
	}
}

// Each case breaks one promise of the outbox; the checker must say so.
func TestOutboxEachCheckCanFail(t *testing.T) {
	withID := func(log []Sent, i int, id string) []Sent { log[i].EventID = id; return log }
	by := func(log []Sent, p string, is ...int) []Sent {
		for _, i := range is {
			log[i].Producer = p
		}
		return log
	}
	tests := []struct {
		name  string
		log   []Sent
		count func(*OutboxReport) int
	}{
		{"lost: a3 committed, not in the topic", sent("r2", a1, b1, a2, b2),
			func(r *OutboxReport) int { return len(r.Lost) }},
		{"phantom: a4 in the topic, never committed", sent("r2", a1, b1, a2, b2, a3, keySeq{"a", 4}),
			func(r *OutboxReport) int { return len(r.Phantom) }},
		{"mismatched: a2 under another event ID", withID(sent("r2", a1, b1, a2, b2, a3), 2, "id-x"),
			func(r *OutboxReport) int { return len(r.Mismatched) }},
		{"order: a2 before a1", sent("r2", a2, b1, a1, b2, a3),
			func(r *OutboxReport) int { return len(r.Order) }},
		{"order: a key in two partitions", func() []Sent { l := sent("r2", a1, b1, a2, b2, a3); l[4].Partition = 1; return l }(),
			func(r *OutboxReport) int { return len(r.Order) }},
		{"unexplained: a relay not killed copied a1 twice", sent("r2", a1, b1, a1, a2, b2, a3),
			func(r *OutboxReport) int { return len(r.Unexplained) }},
		{"unexplained: the killed relay's copy is not the one repeated", by(sent("r2", a1, b1, a1, a2, b2, a3), "r1", 2),
			func(r *OutboxReport) int { return len(r.Unexplained) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Outbox(outboxCommits(), tc.log)
			if tc.count(r) == 0 {
				t.Fatalf("not reported: %+v", r)
			}
			if r.Verdict() == nil {
				t.Fatalf("verdict passed: %+v", r)
			}
		})
	}
}

// An inbox history: the synthetic log with event IDs, every record
// acknowledged, and one side effect each, in order.
func inboxLog() []Sent {
	var log []Sent
	for _, rec := range synthLog() {
		log = append(log, Sent{Partition: rec.Partition, Offset: rec.Offset, Key: rec.Key, Seq: rec.Seq, EventID: fmt.Sprintf("e%d", rec.Offset)})
	}
	return log
}

func effectsOf(log []Sent) []Effect {
	var out []Effect
	for i, rec := range log {
		out = append(out, Effect{ID: int64(i + 1), EventID: rec.EventID, Partition: rec.Partition, Offset: rec.Offset, Key: rec.Key, Seq: rec.Seq})
	}
	return out
}

func TestInboxCleanPasses(t *testing.T) {
	evs := append(acks(synthLog()), journal.Event{Kind: journal.InboxDuplicate}, journal.Event{Kind: journal.InboxDuplicate})
	r := Inbox(evs, inboxLog(), effectsOf(inboxLog()))
	if err := r.Verdict(); err != nil || r.Acked != 5 || r.Effects != 5 || r.Skipped != 2 {
		t.Fatalf("clean history: %v, %+v", err, r)
	}
}

// Each case breaks one promise of the inbox; the checker must say so.
func TestInboxEachCheckCanFail(t *testing.T) {
	good := effectsOf(inboxLog())
	tests := []struct {
		name    string
		log     []Sent
		effects []Effect
		count   func(*InboxReport) int
	}{
		{"lost: a record without a side effect", inboxLog(), good[:4],
			func(r *InboxReport) int { return len(r.Lost) }},
		{"lost: acknowledged, not in the topic", inboxLog()[:4], good[:4],
			func(r *InboxReport) int { return len(r.Lost) }},
		{"doubled: a side effect written twice", inboxLog(), append(slices.Clone(good), Effect{ID: 6, EventID: "e4", Partition: 0, Offset: 4, Key: "a", Seq: 3}),
			func(r *InboxReport) int { return len(r.Doubled) }},
		{"stray: a side effect of no record", inboxLog(), append(slices.Clone(good), Effect{ID: 6, EventID: "zz", Key: "a"}),
			func(r *InboxReport) int { return len(r.Stray) }},
		{"stray: a side effect naming another record", inboxLog(), func() []Effect { e := slices.Clone(good); e[1].Key = "a"; return e }(),
			func(r *InboxReport) int { return len(r.Stray) }},
		{"order: a@2's effect before a@0's", inboxLog(), func() []Effect { e := slices.Clone(good); e[0].ID, e[2].ID = 3, 1; return e }(),
			func(r *InboxReport) int { return len(r.Order) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Inbox(acks(synthLog()), tc.log, tc.effects)
			if tc.count(r) == 0 {
				t.Fatalf("not reported: %+v", r)
			}
			if r.Verdict() == nil {
				t.Fatalf("verdict passed: %+v", r)
			}
		})
	}
}
