//go:build integration

package pgoutbox_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordo-go/ordo/producer/outbox"
)

// Run with: go test -tags integration -run '^$' -bench Relay -benchtime 1x ./producer/outbox/pgoutbox/

// BenchmarkRelayThroughput measures how fast one relay empties a backlog
// of 50,000 committed events (64 keys, 12 partitions) into Kafka: fetch,
// publish, wait for the acknowledgements, delete.
func BenchmarkRelayThroughput(b *testing.B) {
	const n = 50_000
	for range b.N {
		b.StopTimer()
		e := startEnv(b, 12)
		w := e.writer(b)
		fill(b, e, w, n)
		r := e.relay(b, e.store, outbox.BatchSize(2000))
		b.StartTimer()
		start := time.Now()
		stop := runRelay(b, r)
		deadline := time.Now().Add(2 * time.Minute)
		for r.Stats().Published < n {
			if time.Now().After(deadline) {
				b.Fatalf("relay published %d of %d in 2 minutes", r.Stats().Published, n)
			}
			time.Sleep(time.Millisecond)
		}
		el := time.Since(start)
		b.StopTimer()
		stop()
		b.ReportMetric(n/el.Seconds(), "events/s")
	}
}

// fill commits n events in transactions of 500 from 4 connections, each
// writing keys of its own (transactions locking shared keys in different
// orders would deadlock).
func fill(b *testing.B, e *env, w *outbox.Writer[pgx.Tx, OrderPlaced], n int) {
	b.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 4 {
		conn := e.conn(b)
		wg.Go(func() {
			for i := g * 500; i < n; i += 4 * 500 {
				tx, err := conn.Begin(ctx)
				if err != nil {
					b.Error(err)
					return
				}
				for j := i; j < min(i+500, n); j++ {
					if _, err := w.Add(ctx, tx, OrderPlaced{OrderID: fmt.Sprintf("o-%d", g+4*(j%16)), N: int64(j)}); err != nil {
						b.Error(err)
						return
					}
				}
				if err := tx.Commit(ctx); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// markTimes wraps a store: it records when each event's row was marked,
// which is after the broker acknowledged it.
type markTimes struct {
	outbox.Store
	at sync.Map // event ID → time.Time
}

func (m *markTimes) Open(ctx context.Context) (outbox.Session, error) {
	s, err := m.Store.Open(ctx)
	return &markSession{Session: s, m: m}, err
}

type markSession struct {
	outbox.Session
	m *markTimes
}

func (s *markSession) Mark(ctx context.Context, rows []outbox.Row) error {
	err := s.Session.Mark(ctx, rows)
	now := time.Now()
	for i := range rows {
		s.m.at.Store(rows[i].Event.EventID, now)
	}
	return err
}

// BenchmarkRelayLatency measures commit-to-publish latency: from the
// return of an event's COMMIT to the relay's mark of its row, which comes
// after the broker's acknowledgement (so an upper bound). 8 connections
// commit transactions of 1 or 20 events for 5 s, paced to a target rate
// of transactions (0: as fast as they can) while one relay runs.
func BenchmarkRelayLatency(b *testing.B) {
	for _, c := range []struct{ rate, perTx int }{{1000, 1}, {0, 1}, {0, 20}} {
		b.Run(fmt.Sprintf("rate=%d/perTx=%d", c.rate, c.perTx), func(b *testing.B) {
			for range b.N {
				latency(b, c.rate, c.perTx)
			}
		})
	}
}

// latency commits transactions of perTx events, paced to rate
// transactions/s overall (0: unpaced).
func latency(b *testing.B, rate, perTx int) {
	e := startEnv(b, 12)
	w := e.writer(b)
	mt := &markTimes{Store: e.store}
	stop := runRelay(b, e.relay(b, mt, outbox.BatchSize(1000)))
	ctx := context.Background()
	var (
		mu        sync.Mutex
		committed = map[string]time.Time{}
		total     atomic.Int64
	)
	const workers, dur = 8, 5 * time.Second
	end := time.Now().Add(dur)
	var wg sync.WaitGroup
	for g := range workers {
		conn := e.conn(b)
		wg.Go(func() {
			var every time.Duration
			if rate > 0 {
				every = time.Duration(workers) * time.Second / time.Duration(rate)
			}
			next := time.Now()
			for i := g; time.Now().Before(end); i += workers {
				if every > 0 {
					time.Sleep(time.Until(next))
					next = next.Add(every)
				}
				tx, err := conn.Begin(ctx)
				if err != nil {
					b.Error(err)
					return
				}
				ids := make([]string, 0, perTx)
				for j := range perTx {
					// Keys in one order in every transaction: each
					// worker has keys of its own.
					id, err := w.Add(ctx, tx, OrderPlaced{OrderID: fmt.Sprintf("o-%d-%d", g, (i/workers+j)%32), N: int64(i)})
					if err != nil {
						b.Error(err)
						return
					}
					ids = append(ids, id)
				}
				if err := tx.Commit(ctx); err != nil {
					b.Error(err)
					return
				}
				at := time.Now()
				mu.Lock()
				for _, id := range ids {
					committed[id] = at
				}
				mu.Unlock()
				total.Add(int64(perTx))
			}
		})
	}
	wg.Wait()
	e.drained(b)
	stop()
	var lat []time.Duration
	for id, c := range committed {
		m, ok := mt.at.Load(id)
		if !ok {
			b.Fatalf("event %s committed, never marked", id)
		}
		lat = append(lat, m.(time.Time).Sub(c))
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(float64(total.Load())/dur.Seconds(), "events/s")
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(q(1), "max-ms")
}
