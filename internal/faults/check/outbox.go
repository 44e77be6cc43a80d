package check

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/ordo-go/ordo/internal/faults/journal"
)

// Sent is one record of an outbox run's topic, as a raw client read it:
// where it is, the event in its payload, its ordo-id and the relay
// incarnation whose producer wrote it (its ordo-producer header).
type Sent struct {
	Partition int32
	Offset    int64
	Key       string
	Seq       int64
	EventID   string
	Producer  string
}

// OutboxReport is the checker's verdict data for an outbox run: a writer
// committing events in database transactions, relays publishing them
// while they are killed.
type OutboxReport struct {
	Committed int // events the writer journaled as committed
	InLog     int // records in the topic
	Published int // committed events found in the topic

	// Lost lists committed events not in the topic.
	Lost []string
	// Phantom lists records in the topic whose event no writer journaled
	// as committed.
	Phantom []string
	// Mismatched lists records whose event ID is not the one committed
	// for their (key, seq), or whose key or seq differs from another
	// copy of their event ID.
	Mismatched []string
	// Order lists breaks of per-key commit order: in the topic, a key's
	// events' first copies must come in the order they were committed,
	// all in one partition.
	Order []string

	Duplicates int // copies beyond an event's first
	Explained  int // of those, explained by a killed relay
	// Unexplained lists copies that are followed by another copy of
	// their event although the relay that wrote them was not killed: a
	// relay marks what the broker acknowledged unless it dies first.
	Unexplained []string
}

// Verdict returns nil if nothing was lost, phantom, mismatched, out of
// order or duplicated without a kill to explain it.
func (r *OutboxReport) Verdict() error {
	return verdict(map[string][]string{
		"lost": r.Lost, "in the topic, never committed": r.Phantom, "mismatched": r.Mismatched,
		"out of commit order": r.Order, "duplicates no killed relay explains": r.Unexplained,
	})
}

// verdict joins the non-empty problem lists, in name order.
func verdict(probs map[string][]string) error {
	var out []string
	for _, name := range slices.Sorted(mapKeys(probs)) {
		if items := probs[name]; len(items) > 0 {
			out = append(out, fmt.Sprintf("%d %s (first: %s)", len(items), name, items[0]))
		}
	}
	if len(out) == 0 {
		return nil
	}
	return fmt.Errorf("check: %s", strings.Join(out, "; "))
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

type keySeq struct {
	k string
	s int64
}

// Outbox checks an outbox run: the writer's Committed events (in the
// order each key's were committed), the runner's Fault events (a "kill"
// naming the relay incarnation it ended) and the topic.
//
//   - no loss: every committed event is in the topic;
//   - per-key commit order: in each key's partition, the first copies of
//     its events come in commit order (seq order: the writer commits a
//     key's events one after the other), and a key is in one partition;
//   - duplicates share the event ID and are explained: every copy of an
//     event but its last was written by a relay incarnation that was
//     killed (it died between the broker's acknowledgement and its mark).
func Outbox(events []journal.Event, log []Sent) *OutboxReport {
	r := &OutboxReport{InLog: len(log)}
	committed := map[keySeq]string{} // the event ID committed for (key, seq)
	killed := map[string]bool{}
	for _, e := range events {
		switch {
		case e.Kind == journal.Committed:
			committed[keySeq{e.Key, e.Seq}] = e.Text
		case e.Kind == journal.Fault && e.Fault == "kill":
			killed[e.Target] = true
		}
	}
	r.Committed = len(committed)
	log = slices.Clone(log)
	sort.Slice(log, func(i, j int) bool {
		a, b := log[i], log[j]
		return a.Partition < b.Partition || a.Partition == b.Partition && a.Offset < b.Offset
	})
	copies := map[string][]Sent{} // by event ID, in log order
	for _, s := range log {
		id, ok := committed[keySeq{s.Key, s.Seq}]
		switch {
		case !ok:
			r.Phantom = append(r.Phantom, fmt.Sprintf("p%d@%d %s#%d (id %s)", s.Partition, s.Offset, s.Key, s.Seq, s.EventID))
		case id != s.EventID:
			r.Mismatched = append(r.Mismatched, fmt.Sprintf("p%d@%d %s#%d has id %s, committed as %s", s.Partition, s.Offset, s.Key, s.Seq, s.EventID, id))
		}
		if cs := copies[s.EventID]; len(cs) > 0 && (cs[0].Key != s.Key || cs[0].Seq != s.Seq) {
			r.Mismatched = append(r.Mismatched, fmt.Sprintf("p%d@%d id %s is %s#%d, its first copy %s#%d", s.Partition, s.Offset, s.EventID, s.Key, s.Seq, cs[0].Key, cs[0].Seq))
		}
		copies[s.EventID] = append(copies[s.EventID], s)
	}
	for ks, id := range committed {
		if len(copies[id]) == 0 {
			r.Lost = append(r.Lost, fmt.Sprintf("%s#%d (id %s) committed, not in the topic", ks.k, ks.s, id))
		} else {
			r.Published++
		}
	}
	r.order(log, copies)
	r.duplicates(copies, killed)
	for _, l := range [][]string{r.Lost, r.Phantom, r.Mismatched, r.Order, r.Unexplained} {
		slices.Sort(l)
	}
	return r
}

// order checks that each key's first copies grow in seq, in one
// partition.
func (r *OutboxReport) order(log []Sent, copies map[string][]Sent) {
	type last struct {
		p   int32
		o   int64
		seq int64
	}
	prev := map[string]last{}
	for _, s := range log {
		if first := copies[s.EventID][0]; first.Partition != s.Partition || first.Offset != s.Offset {
			continue // a duplicate: its first copy was checked
		}
		if p, ok := prev[s.Key]; ok {
			switch {
			case p.p != s.Partition:
				r.Order = append(r.Order, fmt.Sprintf("key %s in p%d and p%d", s.Key, p.p, s.Partition))
			case s.Seq <= p.seq:
				r.Order = append(r.Order, fmt.Sprintf("p%d@%d %s#%d after #%d at @%d", s.Partition, s.Offset, s.Key, s.Seq, p.seq, p.o))
			}
		}
		prev[s.Key] = last{s.Partition, s.Offset, s.Seq}
	}
}

// duplicates counts the copies beyond each event's first and explains
// those whose writer, a relay, was killed: every copy but the last must
// be explained.
func (r *OutboxReport) duplicates(copies map[string][]Sent, killed map[string]bool) {
	for id, cs := range copies {
		if len(cs) < 2 {
			continue
		}
		r.Duplicates += len(cs) - 1
		for _, c := range cs[:len(cs)-1] {
			if killed[c.Producer] {
				r.Explained++
				continue
			}
			r.Unexplained = append(r.Unexplained, fmt.Sprintf("p%d@%d %s#%d (id %s) by %s, not killed, copied again",
				c.Partition, c.Offset, c.Key, c.Seq, id, c.Producer))
		}
	}
}
