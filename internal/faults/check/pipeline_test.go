package check

import (
	"slices"
	"testing"

	"github.com/ordo-go/ordo/internal/faults/journal"
)

// outputsOf lays out fanout outputs per input of log, in the log's
// order, on output partition 0.
func outputsOf(log []Record, fanout int) []Output {
	var out []Output
	for _, rec := range log {
		for i := range fanout {
			out = append(out, Output{Partition: 0, Offset: int64(len(out)), Key: rec.Key, Seq: rec.Seq,
				InPartition: rec.Partition, InOffset: rec.Offset, Index: i})
		}
	}
	return out
}

func TestPipelineCleanPasses(t *testing.T) {
	evs := append(acks(synthLog()), good()...)
	evs = append(evs, h("B", 2, 20, 21)) // a redelivery
	r := Pipeline(evs, synthLog(), outputsOf(synthLog(), 2), 2)
	if err := r.Verdict(); err != nil || r.Acked != 5 || r.Outputs != 10 || r.Redelivered != 1 {
		t.Fatalf("clean history: %v, %+v", err, r)
	}
}

// Each case breaks one promise of the pipeline; the checker must say so.
func TestPipelineEachCheckCanFail(t *testing.T) {
	good := outputsOf(synthLog(), 2)
	edit := func(f func([]Output) []Output) []Output { return f(slices.Clone(good)) }
	tests := []struct {
		name    string
		log     []Record
		outputs []Output
		count   func(*PipelineReport) int
	}{
		{"lost: an input without its second output", synthLog(), edit(func(o []Output) []Output { return slices.Delete(o, 3, 4) }),
			func(r *PipelineReport) int { return len(r.Lost) }},
		{"lost: acknowledged, not in the topic", synthLog()[:4], outputsOf(synthLog()[:4], 2),
			func(r *PipelineReport) int { return len(r.Lost) }},
		{"doubled: an output read twice", synthLog(), append(slices.Clone(good), Output{Partition: 0, Offset: 10, Key: "a", Seq: 3, InOffset: 4, Index: 1}),
			func(r *PipelineReport) int { return len(r.Doubled) }},
		{"stray: an output of no input", synthLog(), append(slices.Clone(good), Output{Partition: 0, Offset: 10, Key: "a", Seq: 9, InOffset: 9}),
			func(r *PipelineReport) int { return len(r.Stray) }},
		{"stray: an output with another key than its input", synthLog(), edit(func(o []Output) []Output { o[2].Key = "a"; return o }),
			func(r *PipelineReport) int { return len(r.Stray) }},
		{"stray: an index beyond the fan-out", synthLog(), append(slices.Clone(good), Output{Partition: 0, Offset: 10, Key: "a", Seq: 3, InOffset: 4, Index: 2}),
			func(r *PipelineReport) int { return len(r.Stray) }},
		{"order: a@2's outputs before a@0's", synthLog(), edit(func(o []Output) []Output {
			o[0].Offset, o[1].Offset, o[4].Offset, o[5].Offset = 4, 5, 0, 1
			return o
		}), func(r *PipelineReport) int { return len(r.Order) }},
		{"order: one input's outputs swapped", synthLog(), edit(func(o []Output) []Output { o[0].Offset, o[1].Offset = 1, 0; return o }),
			func(r *PipelineReport) int { return len(r.Order) }},
		{"order: a key in two partitions", synthLog(), edit(func(o []Output) []Output { o[9].Partition = 1; return o }),
			func(r *PipelineReport) int { return len(r.Order) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Pipeline(acks(synthLog()), tc.log, tc.outputs, 2)
			if tc.count(r) == 0 {
				t.Fatalf("not reported: %+v", r)
			}
			if r.Verdict() == nil {
				t.Fatalf("verdict passed: %+v", r)
			}
		})
	}
}

// A doubled output's second copy does not count against order: the
// first copies are in order, and the copy is reported once, as doubled.
func TestPipelineDuplicateIsNotDisorder(t *testing.T) {
	outs := outputsOf(synthLog(), 1)
	outs = append(outs, Output{Partition: 0, Offset: 5, Key: "a", Seq: 1, InOffset: 0})
	r := Pipeline([]journal.Event{}, synthLog(), outs, 1)
	if len(r.Doubled) != 1 || len(r.Order) != 0 {
		t.Fatalf("doubled %v, order %v; want 1 doubled, no order break", r.Doubled, r.Order)
	}
}

// deadAt journals dead letters of synthLog's records at offsets, in the
// dead-letter topic's order.
func deadAt(offsets ...int64) []journal.Event {
	var out []journal.Event
	for _, o := range offsets {
		rec := synthLog()[o]
		out = append(out, journal.Event{Kind: journal.Dead, Partition: rec.Partition, Offset: o, Key: rec.Key})
	}
	return out
}

// withoutInputs drops the outputs of the inputs at offsets.
func withoutInputs(outs []Output, offsets ...int64) []Output {
	return slices.DeleteFunc(slices.Clone(outs), func(o Output) bool { return slices.Contains(offsets, o.InOffset) })
}

// Key a's record @2 is dead-lettered and @4 follows it (quarantine): they
// have no outputs, the others have theirs.
func TestPipelineDeadLettersPass(t *testing.T) {
	evs := append(acks(synthLog()), deadAt(2, 4, 2)...) // @2 written twice: allowed
	r := Pipeline(evs, synthLog(), withoutInputs(outputsOf(synthLog(), 2), 2, 4), 2)
	if err := r.Verdict(); err != nil || r.DeadLettered != 2 {
		t.Fatalf("dead letters: %v, %+v", err, r)
	}
}

// Each case breaks the quarantine, or loses an input; the checker must
// say so.
func TestPipelineQuarantineCanFail(t *testing.T) {
	good := outputsOf(synthLog(), 2)
	tests := []struct {
		name    string
		dead    []journal.Event
		outputs []Output
		count   func(*PipelineReport) int
	}{
		{"outputs of a dead-lettered input", deadAt(2, 4), withoutInputs(good, 4),
			func(r *PipelineReport) int { return len(r.Quarantine) }},
		{"outputs after the key's dead letter", deadAt(2), withoutInputs(good, 2),
			func(r *PipelineReport) int { return len(r.Quarantine) }},
		{"dead letters out of order", deadAt(4, 2), withoutInputs(good, 2, 4),
			func(r *PipelineReport) int { return len(r.Quarantine) }},
		{"a dead letter of no input", append(deadAt(2, 4), journal.Event{Kind: journal.Dead, Offset: 9, Key: "a"}), withoutInputs(good, 2, 4),
			func(r *PipelineReport) int { return len(r.Quarantine) }},
		{"lost: neither outputs nor a dead letter", deadAt(2), withoutInputs(good, 2, 4),
			func(r *PipelineReport) int { return len(r.Lost) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Pipeline(append(acks(synthLog()), tc.dead...), synthLog(), tc.outputs, 2)
			if tc.count(r) == 0 {
				t.Fatalf("not reported: %+v", r)
			}
			if r.Verdict() == nil {
				t.Fatalf("verdict passed: %+v", r)
			}
		})
	}
}
