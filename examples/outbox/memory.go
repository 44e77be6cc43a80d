package main

import (
	"context"
	"sync"

	"github.com/ordo-go/ordo/consumer"
	"github.com/ordo-go/ordo/consumer/inbox"
	"github.com/ordo-go/ordo/producer"
	"github.com/ordo-go/ordo/producer/outbox"
)

// memDB is the embedded default's "database": the orders and billing
// tables in maps, the outbox and the inbox marks in ordo's memory stores.
// A transaction's order row and outbox rows become visible together, under
// mu, when it commits; a charge and its inbox mark likewise.
type memDB struct {
	mu      sync.Mutex
	orders  map[string]int64 // order ID -> cents
	charges map[string]int   // order ID -> charges booked
	out     *outbox.Memory
	marks   *inbox.Memory
	w       *outbox.Writer[*outbox.MemTx, OrderPlaced]
	in      *inbox.Inbox[*inbox.MemTx]
}

func newMemDB(pub *producer.Publisher[OrderPlaced]) (*memDB, error) {
	db := &memDB{orders: map[string]int64{}, charges: map[string]int{}, out: outbox.NewMemory(), marks: inbox.NewMemory()}
	var err error
	if db.w, err = outbox.NewWriter[*outbox.MemTx](pub, db.out); err != nil {
		return nil, err
	}
	if db.in, err = inbox.New(db.marks, inbox.Scope("billing")); err != nil {
		return nil, err
	}
	return db, nil
}

func (db *memDB) place(ctx context.Context, o OrderPlaced, commit bool) (string, error) {
	tx := db.out.Begin()
	id, err := db.w.Add(ctx, tx, o) // the event, in the order's transaction
	if err != nil {
		tx.Rollback()
		return "", err
	}
	if !commit {
		tx.Rollback()
		return id, nil
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if err := tx.Commit(); err != nil {
		return "", err
	}
	db.orders[o.OrderID] = o.Cents // the order row, in the same commit
	return id, nil
}

func (db *memDB) relayStore() outbox.Store { return db.out }

func (db *memDB) billing(direct bool) consumer.Handler[OrderPlaced] {
	if direct { // tests only: no inbox, every delivery charges
		return func(_ context.Context, o OrderPlaced, _ consumer.Meta) error {
			db.mu.Lock()
			defer db.mu.Unlock()
			db.charges[o.OrderID]++
			return nil
		}
	}
	return inbox.Handle(db.in, func(_ context.Context, tx *inbox.MemTx, o OrderPlaced, _ consumer.Meta) error {
		tx.OnCommit(func() { // with the mark, or not at all
			db.mu.Lock()
			defer db.mu.Unlock()
			db.charges[o.OrderID]++
		})
		return nil
	})
}

func (db *memDB) duplicates() int64 { return db.in.Duplicates() }

func (db *memDB) tally(context.Context) (tally, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	t := tally{orders: map[string]bool{}, charges: map[string]int{}, pending: db.out.Len()}
	for id := range db.orders {
		t.orders[id] = true
	}
	for id, n := range db.charges {
		t.charges[id] = n
	}
	return t, nil
}

func (db *memDB) close() {}
