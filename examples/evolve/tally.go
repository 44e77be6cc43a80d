package main

import (
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/ordo-go/ordo/consumer"
)

// tally is the run's account: what each producer published, and what each
// reader version read of each writer version. Its methods are safe for
// concurrent use (handlers run on many lanes).
type tally struct {
	mu        sync.Mutex
	producers map[string]bool    // this run's producer instance IDs
	published map[string]OrderV2 // by order ID; a v1 order has no tags
	writer    map[string]int     // version each order was published with
	handled   map[string]bool
	reads     [3][3]int // [reader][writer] version, first reads only
	defaulted int       // v1 records a v2 reader read with the default tags
	earlier   int       // records of earlier runs on the topic, not counted
	failures  []string  // decode failures and values other than published
}

func newTally() *tally {
	return &tally{producers: map[string]bool{}, published: map[string]OrderV2{},
		writer: map[string]int{}, handled: map[string]bool{}}
}

// expect records orders before they are published (a handler may read one
// before the publish returns).
func (t *tally) expect(producer string, version int, orders []OrderV2) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.producers[producer] = true
	for _, o := range orders {
		t.published[o.OrderID] = o
		t.writer[o.OrderID] = version
	}
}

// read checks what a reader of version reader decoded: the values
// published, tags as written for a v2 record and the default ([]) for a
// v1 record.
func (t *tally) read(reader int, m consumer.Meta, got OrderV2) {
	t.mu.Lock()
	defer t.mu.Unlock()
	want, ok := t.published[got.OrderID]
	if !ok || !t.producers[m.Producer] {
		t.earlier++
		return
	}
	w := t.writer[got.OrderID]
	switch {
	case got.Cents != want.Cents:
		t.fail("%s (v%d record, v%d reader): cents %d, published %d", got.OrderID, w, reader, got.Cents, want.Cents)
	case reader == 2 && w == 1 && len(got.Tags) > 0:
		t.fail("%s (v1 record, v2 reader): tags %#v, want the default []", got.OrderID, got.Tags)
	case reader == 2 && w == 2 && !slices.Equal(got.Tags, want.Tags):
		t.fail("%s (v2 record, v2 reader): tags %q, published %q", got.OrderID, got.Tags, want.Tags)
	}
	if t.handled[got.OrderID] {
		return // a redelivery after the deploy's rebalance: counted once
	}
	t.handled[got.OrderID] = true
	t.reads[reader][w]++
	if reader == 2 && w == 1 {
		t.defaulted++
	}
}

// failed records a record that could not be decoded (the consumer's error
// hook, under the Skip policy).
func (t *tally) failed(err *consumer.RecordError) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.fail("%v", err)
}

func (t *tally) fail(format string, args ...any) {
	t.failures = append(t.failures, fmt.Sprintf(format, args...))
}

// progress returns how many of the published orders were handled.
func (t *tally) progress() (handled, published int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.handled), len(t.published)
}

// lost returns the orders published and never handled, sorted.
func (t *tally) lost() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for id := range t.published {
		if !t.handled[id] {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}
