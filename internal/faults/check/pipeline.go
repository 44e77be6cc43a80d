package check

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/ordo-go/ordo/internal/faults/journal"
)

// Output is one derived event of a pipeline run, as a read_committed
// reader read it from the output topic: where it is (Partition, Offset),
// the key and seq it carries (its input's), and the input it names
// (InPartition, InOffset) with its index among that input's outputs.
type Output struct {
	Partition   int32
	Offset      int64
	Key         string
	Seq         int64
	InPartition int32
	InOffset    int64
	Index       int
}

func (o Output) String() string {
	return fmt.Sprintf("out p%d@%d (%s#%d, of p%d@%d #%d)", o.Partition, o.Offset, o.Key, o.Seq, o.InPartition, o.InOffset, o.Index)
}

// PipelineReport is the checker's verdict data for a pipeline run:
// transactional consumers emitting Fanout derived events per input while
// they are killed and their group rebalances.
type PipelineReport struct {
	Acked   int // inputs the producer journaled as acknowledged
	InLog   int // inputs in the topic
	Outputs int // outputs a read_committed reader read
	// Redelivered counts the inputs handled more than once (the handler
	// journals every handling): each is a handling whose outputs the
	// transactions had to keep from becoming visible twice.
	Redelivered int
	// DeadLettered counts the inputs found in the dead-letter topic (the
	// runner journals a Dead event for each dead letter, in the topic's
	// order); a record dead-lettered twice counts once.
	DeadLettered int

	// Lost lists acknowledged inputs missing from the topic, and inputs
	// of the topic missing one of their outputs.
	Lost []string
	// Doubled lists outputs read more than once.
	Doubled []string
	// Stray lists outputs of no input of the topic, or not carrying their
	// input's key and seq, or with an index beyond the fan-out.
	Stray []string
	// Order lists outputs of a key read out of their inputs' order (the
	// first copy of each), or a key's outputs in two partitions.
	Order []string
	// Quarantine lists what breaks the dead-letter quarantine: outputs of
	// a dead-lettered input, or of an input after its key's first dead
	// letter in its partition, and a key's dead letters out of offset
	// order; and dead letters of no input of the topic.
	Quarantine []string
}

// Verdict returns nil if every input has each of its outputs exactly
// once, no output is stray, and each key's outputs follow its inputs'
// order.
func (r *PipelineReport) Verdict() error {
	return verdict(map[string][]string{
		"lost": r.Lost, "doubled outputs": r.Doubled, "stray outputs": r.Stray, "outputs out of order": r.Order,
		"quarantine broken": r.Quarantine,
	})
}

// Pipeline checks a pipeline run: the producer's Acked events, the
// workers' Handled events and the dead letters (Dead events), the input
// topic, and the output topic as a read_committed reader read it (in each
// partition's order). Each input has fanout outputs, or, dead-lettered,
// none.
func Pipeline(events []journal.Event, log []Record, outputs []Output, fanout int) *PipelineReport {
	r := &PipelineReport{InLog: len(log), Outputs: len(outputs)}
	byRef := map[ref]Record{}
	for _, rec := range log {
		byRef[ref{rec.Partition, rec.Offset}] = rec
	}
	handled := map[ref]int{}
	var dead []journal.Event
	for _, e := range events {
		switch e.Kind {
		case journal.Dead:
			dead = append(dead, e)
		case journal.Acked:
			r.Acked++
			if rec, ok := byRef[ref{e.Partition, e.Offset}]; !ok || rec.Key != e.Key || rec.Seq != e.Seq {
				r.Lost = append(r.Lost, fmt.Sprintf("p%d@%d %s#%d acknowledged, not in the topic", e.Partition, e.Offset, e.Key, e.Seq))
			}
		case journal.Handled:
			if handled[ref{e.Partition, e.Offset}]++; handled[ref{e.Partition, e.Offset}] == 2 {
				r.Redelivered++
			}
		}
	}
	type outRef struct {
		in ref
		i  int
	}
	count := map[outRef]int{}
	for _, o := range outputs {
		in := ref{o.InPartition, o.InOffset}
		rec, ok := byRef[in]
		if !ok || rec.Key != o.Key || rec.Seq != o.Seq || o.Index < 0 || o.Index >= fanout {
			r.Stray = append(r.Stray, o.String())
			continue
		}
		if count[outRef{in, o.Index}]++; count[outRef{in, o.Index}] == 2 {
			r.Doubled = append(r.Doubled, o.String()+" read more than once")
		}
	}
	deadAt := r.deadLetters(dead, byRef)
	for _, rec := range log {
		if deadAt[ref{rec.Partition, rec.Offset}] {
			continue // no outputs: checked by quarantine
		}
		for i := range fanout {
			if count[outRef{ref{rec.Partition, rec.Offset}, i}] == 0 {
				r.Lost = append(r.Lost, fmt.Sprintf("p%d@%d %s#%d has no output #%d", rec.Partition, rec.Offset, rec.Key, rec.Seq, i))
			}
		}
	}
	r.order(outputs)
	r.quarantine(outputs, dead, deadAt)
	for _, l := range [][]string{r.Lost, r.Doubled, r.Stray, r.Order, r.Quarantine} {
		slices.Sort(l)
	}
	return r
}

// order checks that each key's outputs, the first copy of each in the
// output topic's order, follow its inputs' offsets and their indexes,
// all in one partition.
func (r *PipelineReport) order(outputs []Output) {
	type pos struct {
		in int64
		i  int
	}
	type seen struct {
		part int32
		last pos
	}
	outputs = slices.Clone(outputs)
	slices.SortStableFunc(outputs, func(a, b Output) int {
		return cmp.Or(cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.Offset, b.Offset))
	})
	first := map[Output]bool{} // by input and index only
	keys := map[string]*seen{}
	for _, o := range outputs {
		id := Output{InPartition: o.InPartition, InOffset: o.InOffset, Index: o.Index}
		if first[id] {
			continue
		}
		first[id] = true
		p := pos{o.InOffset, o.Index}
		s, ok := keys[o.Key]
		switch {
		case !ok:
			keys[o.Key] = &seen{part: o.Partition, last: p}
			continue
		case s.part != o.Partition:
			r.Order = append(r.Order, fmt.Sprintf("key %s: %v in another partition than p%d", o.Key, o, s.part))
		case p.in < s.last.in || p.in == s.last.in && p.i <= s.last.i:
			r.Order = append(r.Order, fmt.Sprintf("key %s: %v after the output #%d of input @%d", o.Key, o, s.last.i, s.last.in))
		}
		s.last = p
	}
}

// deadLetters counts the dead-lettered inputs and checks that each dead
// letter is an input of the topic, and a key's dead letters (the first
// copy of each) are in offset order. It returns the inputs dead-lettered.
func (r *PipelineReport) deadLetters(dead []journal.Event, byRef map[ref]Record) map[ref]bool {
	deadAt := map[ref]bool{}
	last := map[pkey]int64{}
	for _, d := range dead {
		at := ref{d.Partition, d.Offset}
		if rec, ok := byRef[at]; !ok || rec.Key != d.Key {
			r.Quarantine = append(r.Quarantine, fmt.Sprintf("%s dead-lettered as key %s: not that input", at, d.Key))
		}
		if deadAt[at] {
			continue // written twice: allowed (a record handled again after a crash)
		}
		deadAt[at] = true
		pk := pkey{d.Partition, d.Key}
		if o, ok := last[pk]; ok && d.Offset < o {
			r.Quarantine = append(r.Quarantine, fmt.Sprintf("p%d key %s: @%d dead-lettered after @%d", d.Partition, d.Key, d.Offset, o))
		}
		last[pk] = max(last[pk], d.Offset)
	}
	r.DeadLettered = len(deadAt)
	return deadAt
}

// quarantine checks that no dead-lettered input has outputs, nor any
// input after its key's first dead letter in its partition.
func (r *PipelineReport) quarantine(outputs []Output, dead []journal.Event, deadAt map[ref]bool) {
	first := map[pkey]int64{}
	for _, d := range dead {
		pk := pkey{d.Partition, d.Key}
		if o, ok := first[pk]; !ok || d.Offset < o {
			first[pk] = d.Offset
		}
	}
	for _, o := range outputs {
		in := ref{o.InPartition, o.InOffset}
		switch f, ok := first[pkey{o.InPartition, o.Key}]; {
		case deadAt[in]:
			r.Quarantine = append(r.Quarantine, fmt.Sprintf("%v: its input was dead-lettered", o))
		case ok && o.InOffset > f:
			r.Quarantine = append(r.Quarantine, fmt.Sprintf("%v: after @%d of its key was dead-lettered", o, f))
		}
	}
}
