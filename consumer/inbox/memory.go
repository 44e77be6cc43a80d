package inbox

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Memory is an inbox store in the process's memory: the embedded default
// and the store of tests. Its transaction, [MemTx], applies the side
// effects registered with [MemTx.OnCommit] together with the mark, or
// neither. Nothing survives the process. It is safe for concurrent use.
type Memory struct {
	mu       sync.Mutex
	marks    map[memKey]time.Time
	inflight map[memKey]chan struct{}
}

type memKey struct{ scope, id string }

var _ Store[*MemTx] = (*Memory)(nil)

// NewMemory returns an empty memory store.
func NewMemory() *Memory {
	return &Memory{marks: map[memKey]time.Time{}, inflight: map[memKey]chan struct{}{}}
}

// MemTx is a [Memory] transaction: the side effects to apply at commit.
type MemTx struct{ effects []func() }

// OnCommit registers f to run if and when the transaction commits, under
// the store's lock, with the mark: f must not call the store.
func (tx *MemTx) OnCommit(f func()) { tx.effects = append(tx.effects, f) }

// Do is [Store.Do]. A panic in fn rolls the transaction back and goes on
// up.
func (m *Memory) Do(ctx context.Context, scope, id string, fn func(context.Context, *MemTx) error) (dup bool, err error) {
	k := memKey{scope, id}
	mine := make(chan struct{})
	for {
		m.mu.Lock()
		if _, ok := m.marks[k]; ok {
			m.mu.Unlock()
			return true, nil
		}
		other, busy := m.inflight[k]
		if !busy {
			m.inflight[k] = mine
			m.mu.Unlock()
			break
		}
		m.mu.Unlock()
		select { // another Do holds the mark: wait for its outcome
		case <-other:
		case <-ctx.Done():
			return false, fmt.Errorf("inbox: wait for mark %s: %w", id, ctx.Err())
		}
	}
	tx := new(MemTx)
	committed := false
	defer func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if committed {
			m.marks[k] = time.Now()
			for _, f := range tx.effects {
				f()
			}
		}
		delete(m.inflight, k)
		close(mine)
	}()
	if err := fn(ctx, tx); err != nil {
		return false, err
	}
	committed = true
	return false, nil
}

// Purge is [Store.Purge].
func (m *Memory) Purge(_ context.Context, before time.Time) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int64
	for k, at := range m.marks {
		if at.Before(before) {
			delete(m.marks, k)
			n++
		}
	}
	return n, nil
}

// Len returns the number of marks kept.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.marks)
}
