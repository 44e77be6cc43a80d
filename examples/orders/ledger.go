package main

import (
	"sync"

	"github.com/ordo-go/ordo/consumer"
)

// ledger is the example's own account of every event of this run, kept
// apart from the SDK's counters so that it can check them: which events
// were published (acknowledged by the broker), which a handler finished,
// and in which order each order's lifecycle was seen. Both fulfilment
// instances write to it; it is safe for concurrent use.
//
// An event is identified by its ordo-id header (the producer's UUIDv7, or
// the injector's ID): the ID survives dead-lettering and redrive, so a
// redriven event handled later is the same event, and one handled twice is
// a duplicate, not two events.
type ledger struct {
	runID string // the producer ID of this run's lifecycle events

	mu         sync.Mutex
	published  map[string]bool   // lifecycle events acknowledged by the broker
	injected   map[string]string // poison records written → what they are
	handled    map[string]bool   // events whose handler finished (first time)
	stage      map[string]int    // order → its next lifecycle stage
	duplicates int               // events handled again (redelivered after a crash or rebalance)
	earlier    int               // events of earlier runs on a reused topic, not counted
	violations int               // lifecycle events handled out of turn for their order
	lose       string            // test hook: the order whose OrderShipped is "lost" (see loseEvent)
}

func newLedger(runID string) *ledger {
	return &ledger{runID: runID, published: make(map[string]bool), injected: make(map[string]string),
		handled: make(map[string]bool), stage: make(map[string]int)}
}

func (l *ledger) publish(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.published[id] = true
}

func (l *ledger) inject(id, what string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.injected[id] = what
}

// advance records that a handler finished order's lifecycle event of
// stage (0 created, 1 paid, 2 shipped): in turn if the order was at stage.
func (l *ledger) advance(m consumer.Meta, order string, stage int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if m.Producer != l.runID {
		l.earlier++
		return
	}
	if stage == 2 && order == l.lose {
		// The loss the tests simulate: the handler acknowledges the event
		// without doing its work, so it is neither handled nor dead-lettered.
		l.lose = ""
		return
	}
	if !l.first(m.EventID()) {
		return
	}
	if l.stage[order] != stage {
		l.violations++
	}
	l.stage[order] = stage + 1
}

// audited records an OrderAudited handled by the fixed fulfilment: the
// audit was written between the order's OrderCreated and OrderPaid, and
// must be handled between them, across its dead letter and redrive.
func (l *ledger) audited(m consumer.Meta, order string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ours := l.injected[m.EventID()]; !ours {
		l.earlier++
		return
	}
	if !l.first(m.EventID()) {
		return
	}
	if l.stage[order] != 1 {
		l.violations++
	}
}

// first marks id handled and reports whether it was the first time.
// Called with l.mu held.
func (l *ledger) first(id string) bool {
	if l.handled[id] {
		l.duplicates++
		return false
	}
	l.handled[id] = true
	return true
}

// account is the end of the story: of every event this run published or
// injected, how many were handled, how many are held in the dead-letter
// topic (held: the IDs found there), and how many are neither: lost.
type account struct {
	events, handled, held, lost int
	lostIDs                     []string // a few, for the message
	duplicates, earlier         int
	violations                  int
}

func (l *ledger) account(held map[string]bool) account {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := account{duplicates: l.duplicates, earlier: l.earlier, violations: l.violations}
	tally := func(id, what string) {
		a.events++
		switch {
		case l.handled[id]:
			a.handled++
		case held[id]:
			a.held++
		default:
			a.lost++
			if len(a.lostIDs) < 5 {
				a.lostIDs = append(a.lostIDs, what+" "+id)
			}
		}
	}
	for id := range l.published {
		tally(id, "event")
	}
	for id, what := range l.injected {
		tally(id, what)
	}
	return a
}
