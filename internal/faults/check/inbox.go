package check

import (
	"fmt"
	"slices"
	"sort"

	"github.com/ordo-go/ordo/internal/faults/journal"
)

// Effect is one row of an inbox run's side-effect table: ID is its
// insertion order (a sequence), the rest what the handler wrote.
type Effect struct {
	ID        int64
	EventID   string
	Partition int32
	Offset    int64
	Key       string
	Seq       int64
}

// InboxReport is the checker's verdict data for an inbox run: consumers
// writing a side effect per record through inbox.Handle while they are
// killed and their group rebalances.
type InboxReport struct {
	Acked   int // records the producer journaled as acknowledged
	InLog   int // records in the topic
	Effects int // rows in the side-effect table
	// Skipped counts the deliveries the consumers journaled as skipped
	// duplicates (a killed incarnation's are in the journal too).
	Skipped int

	// Lost lists acknowledged records missing from the topic, and records
	// of the topic without a side effect.
	Lost []string
	// Doubled lists events doubled side effects.
	Doubled []string
	// Stray lists side effects of no record of the topic, or not of the
	// record their event ID names.
	Stray []string
	// Order lists a key's side effects committed out of its records'
	// order (by the side-effect table's sequence).
	Order []string
}

// Verdict returns nil if every record has exactly one side effect, no
// side effect is stray, and each key's effects are in its records' order.
func (r *InboxReport) Verdict() error {
	return verdict(map[string][]string{
		"lost": r.Lost, "doubled side effects": r.Doubled, "stray side effects": r.Stray,
		"side effects out of order": r.Order,
	})
}

// Inbox checks an inbox run: the producer's Acked events, the consumers'
// InboxDuplicate events, the topic (each record with its ordo-id) and the
// side-effect table.
func Inbox(events []journal.Event, log []Sent, effects []Effect) *InboxReport {
	r := &InboxReport{InLog: len(log), Effects: len(effects)}
	byRef := map[ref]Sent{}
	byID := map[string]Sent{}
	for _, rec := range log {
		byRef[ref{rec.Partition, rec.Offset}] = rec
		byID[rec.EventID] = rec
	}
	for _, e := range events {
		switch e.Kind {
		case journal.Acked:
			r.Acked++
			if rec, ok := byRef[ref{e.Partition, e.Offset}]; !ok || rec.Key != e.Key || rec.Seq != e.Seq {
				r.Lost = append(r.Lost, fmt.Sprintf("p%d@%d %s#%d acknowledged, not in the topic", e.Partition, e.Offset, e.Key, e.Seq))
			}
		case journal.InboxDuplicate:
			r.Skipped++
		}
	}
	count := map[string]int{}
	for _, ef := range effects {
		count[ef.EventID]++
		rec, ok := byID[ef.EventID]
		if !ok || rec.Partition != ef.Partition || rec.Offset != ef.Offset || rec.Key != ef.Key || rec.Seq != ef.Seq {
			r.Stray = append(r.Stray, fmt.Sprintf("effect %d: id %s p%d@%d %s#%d", ef.ID, ef.EventID, ef.Partition, ef.Offset, ef.Key, ef.Seq))
		}
	}
	for _, rec := range log {
		switch n := count[rec.EventID]; {
		case n == 0:
			r.Lost = append(r.Lost, fmt.Sprintf("p%d@%d %s#%d (id %s) has no side effect", rec.Partition, rec.Offset, rec.Key, rec.Seq, rec.EventID))
		case n > 1:
			r.Doubled = append(r.Doubled, fmt.Sprintf("p%d@%d %s#%d (id %s) has %d side effects", rec.Partition, rec.Offset, rec.Key, rec.Seq, rec.EventID, n))
		}
	}
	r.order(effects)
	for _, l := range [][]string{r.Lost, r.Doubled, r.Stray, r.Order} {
		slices.Sort(l)
	}
	return r
}

// order checks that each key's effects, in the table's sequence order,
// follow its records' offsets.
func (r *InboxReport) order(effects []Effect) {
	effects = slices.Clone(effects)
	sort.Slice(effects, func(i, j int) bool { return effects[i].ID < effects[j].ID })
	last := map[pkey]Effect{}
	for _, ef := range effects {
		pk := pkey{ef.Partition, ef.Key}
		if p, ok := last[pk]; ok && ef.Offset <= p.Offset {
			r.Order = append(r.Order, fmt.Sprintf("p%d key %s: effect %d of @%d after effect %d of @%d", ef.Partition, ef.Key, ef.ID, ef.Offset, p.ID, p.Offset))
		}
		last[pk] = ef
	}
}
