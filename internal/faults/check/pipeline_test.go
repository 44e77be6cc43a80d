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
