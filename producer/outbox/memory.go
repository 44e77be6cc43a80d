package outbox

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/ordo-go/ordo/producer"
)

// DefaultLanes is the number of lanes the [Memory] store shares among its
// relays' sessions.
const DefaultLanes = 16

// ErrTxDone is returned when a [MemTx] is used after Commit or Rollback.
var ErrTxDone = errors.New("outbox: transaction already committed or rolled back")

// ErrSessionClosed is returned by a [Memory] session used after Close.
var ErrSessionClosed = errors.New("outbox: session closed")

// Memory is an outbox store in the process's memory: the embedded default
// and the store of tests. Its transactions ([MemTx]) hold rows until they
// commit, so a row is visible to relays exactly when its transaction
// commits, and rows get their IDs at commit, in commit order. Nothing
// survives the process. Several relays may share one Memory, each with
// its own session; lanes are balanced among the live sessions as
// [Session.Fetch] describes. A Memory is safe for concurrent use.
type Memory struct {
	mu       sync.Mutex
	lanes    int
	rows     []memRow // in ID order
	nextID   int64
	version  uint64        // bumped by every commit
	wake     chan struct{} // closed and replaced by every commit
	owner    []*memSession // per lane; nil when free
	order    []int         // LaneOrder(lanes)
	sessions map[*memSession]struct{}
}

type memRow struct {
	Row
	lane int
}

var (
	_ Store            = (*Memory)(nil)
	_ Inserter[*MemTx] = (*Memory)(nil)
	_ Session          = (*memSession)(nil)
)

// NewMemory returns an empty memory store with [DefaultLanes] lanes.
func NewMemory() *Memory {
	return &Memory{
		lanes:    DefaultLanes,
		wake:     make(chan struct{}),
		owner:    make([]*memSession, DefaultLanes),
		order:    LaneOrder(DefaultLanes),
		sessions: make(map[*memSession]struct{}),
	}
}

// MemTx is a transaction of a [Memory] store.
type MemTx struct {
	m    *Memory
	rows []producer.Sealed
	done bool
}

// Begin starts a transaction.
func (m *Memory) Begin() *MemTx { return &MemTx{m: m} }

// Insert adds ev to tx; it is visible to relays once tx commits.
func (m *Memory) Insert(_ context.Context, tx *MemTx, ev *producer.Sealed) error {
	if tx == nil || tx.m != m {
		return errors.New("outbox: transaction of another store")
	}
	if tx.done {
		return ErrTxDone
	}
	tx.rows = append(tx.rows, *ev)
	return nil
}

// Commit makes tx's rows visible, with IDs in commit order, and wakes the
// relays.
func (tx *MemTx) Commit() error {
	m := tx.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if tx.done {
		return ErrTxDone
	}
	tx.done = true
	now := time.Now()
	for i := range tx.rows {
		m.nextID++
		ev := &tx.rows[i]
		m.rows = append(m.rows, memRow{Row: Row{ID: m.nextID, Event: *ev, Created: now}, lane: Lane(ev, m.lanes)})
	}
	if len(tx.rows) > 0 {
		m.version++
		close(m.wake)
		m.wake = make(chan struct{})
	}
	tx.rows = nil
	return nil
}

// Rollback drops tx's rows. It is a no-op after Commit.
func (tx *MemTx) Rollback() {
	tx.done, tx.rows = true, nil
}

// Len returns the number of rows committed and not yet marked.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.rows)
}

// Open starts a relay's session.
func (m *Memory) Open(context.Context) (Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := &memSession{m: m}
	m.sessions[s] = struct{}{}
	return s, nil
}

type memSession struct {
	m      *Memory
	seen   uint64 // m.version at the last Fetch
	closed bool
}

// balance gives up the lanes s holds beyond its fair share (the lanes
// divided among the live sessions, rounded up) and takes free lanes up to
// it, both in LaneOrder. It runs in Fetch, when s has nothing in flight.
func (s *memSession) balance() {
	m := s.m
	share := (m.lanes + len(m.sessions) - 1) / len(m.sessions)
	held := 0
	for _, l := range m.order {
		if m.owner[l] != s {
			continue
		}
		if held++; held > share {
			m.owner[l] = nil
		}
	}
	for _, l := range m.order {
		if held >= share {
			break
		}
		if m.owner[l] == nil {
			m.owner[l] = s
			held++
		}
	}
}

func (s *memSession) Fetch(_ context.Context, max int) ([]Row, error) {
	m := s.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if s.closed {
		return nil, ErrSessionClosed
	}
	s.balance()
	s.seen = m.version
	var rows []Row
	for i := range m.rows {
		if len(rows) == max {
			break
		}
		if r := &m.rows[i]; m.owner[r.lane] == s {
			rows = append(rows, r.Row)
		}
	}
	return rows, nil
}

func (s *memSession) Mark(_ context.Context, rows []Row) error {
	m := s.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if s.closed {
		return ErrSessionClosed
	}
	ids := make(map[int64]bool, len(rows))
	for _, r := range rows {
		ids[r.ID] = true
	}
	keep := m.rows[:0]
	for _, r := range m.rows {
		if !ids[r.ID] {
			keep = append(keep, r)
		}
	}
	clear(m.rows[len(keep):])
	m.rows = keep
	return nil
}

func (s *memSession) Wait(ctx context.Context, d time.Duration) error {
	m := s.m
	m.mu.Lock()
	wake, changed := m.wake, m.version != s.seen
	m.mu.Unlock()
	if changed {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-wake:
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

func (s *memSession) Close() error {
	m := s.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	delete(m.sessions, s)
	for l, o := range m.owner {
		if o == s {
			m.owner[l] = nil
		}
	}
	return nil
}
