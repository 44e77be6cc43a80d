package pgoutbox

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordo-go/ordo/producer/outbox"
)

// session is one relay's: conn holds the lane locks and reads and deletes
// rows; listen waits for NOTIFY on a goroutine of its own.
type session struct {
	s      *Store
	conn   *pgx.Conn
	listen *pgx.Conn
	order  []int
	held   map[int]bool
	fetch  string
	wake   chan struct{} // a notification arrived (buffer 1)
	lost   chan error    // the listener's connection failed
	stop   context.CancelFunc
	done   chan struct{} // the listener returned
}

var _ outbox.Session = (*session)(nil)

// Open connects a relay's session, joins the store's members (a
// session-level advisory lock) and starts listening for commits.
func (s *Store) Open(ctx context.Context) (outbox.Session, error) {
	conn, err := pgx.Connect(ctx, s.connString)
	if err != nil {
		return nil, fmt.Errorf("pgoutbox: connect: %w", err)
	}
	listen, err := pgx.Connect(ctx, s.connString)
	if err != nil {
		conn.Close(ctx)
		return nil, fmt.Errorf("pgoutbox: connect the listener: %w", err)
	}
	fail := func(what string, err error) (outbox.Session, error) {
		conn.Close(ctx)
		listen.Close(ctx)
		return nil, fmt.Errorf("pgoutbox: %s: %w", what, err)
	}
	if _, err := listen.Exec(ctx, "LISTEN "+s.channel); err != nil {
		return fail("listen", err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1::int, $2::int)", s.memberCls, rand.Int32()); err != nil {
		return fail("join the relays", err)
	}
	lctx, stop := context.WithCancel(context.Background())
	ss := &session{
		s: s, conn: conn, listen: listen, order: outbox.LaneOrder(s.lanes), held: map[int]bool{},
		fetch: fmt.Sprintf(`SELECT id, topic, partition, key, value, headers, event_id, ts, created
FROM %s WHERE lane = ANY($1) ORDER BY id LIMIT $2`, s.table),
		wake: make(chan struct{}, 1), lost: make(chan error, 1), stop: stop, done: make(chan struct{}),
	}
	go ss.listenLoop(lctx)
	return ss, nil
}

// listenLoop turns notifications into wake-ups until the session closes
// or the connection fails.
func (ss *session) listenLoop(ctx context.Context) {
	defer close(ss.done)
	for {
		if _, err := ss.listen.WaitForNotification(ctx); err != nil {
			if ctx.Err() == nil {
				ss.lost <- err
			}
			return
		}
		select {
		case ss.wake <- struct{}{}:
		default:
		}
	}
}

// balance gives up the lanes held beyond the fair share (the lanes
// divided among the live members, rounded up), last in LaneOrder first,
// and tries to take free lanes up to it, first in LaneOrder first. It
// runs in Fetch, when nothing of the session is in flight.
func (ss *session) balance(ctx context.Context) error {
	var members int
	err := ss.conn.QueryRow(ctx, `SELECT count(*) FROM pg_locks
WHERE locktype = 'advisory' AND classid = $1::int::oid AND objsubid = 2 AND granted`, ss.s.memberCls).Scan(&members)
	if err != nil {
		return fmt.Errorf("count the relays: %w", err)
	}
	share := (ss.s.lanes + max(members, 1) - 1) / max(members, 1)
	var release []int32
	for i := len(ss.order) - 1; i >= 0 && len(ss.held) > share; i-- {
		if l := ss.order[i]; ss.held[l] {
			release = append(release, int32(l))
			delete(ss.held, l)
		}
	}
	if len(release) > 0 {
		if _, err := ss.conn.Exec(ctx, `SELECT pg_advisory_unlock($1::int, l) FROM unnest($2::int[]) AS l`,
			ss.s.laneClass, release); err != nil {
			return fmt.Errorf("give up lanes: %w", err)
		}
	}
	if len(ss.held) >= share {
		return nil
	}
	var try []int32
	for _, l := range ss.order {
		if !ss.held[l] {
			try = append(try, int32(l))
		}
	}
	// The LIMIT stops the scan once enough locks are taken: unnest yields
	// the lanes in order and the filter takes each lock as it passes.
	rows, err := ss.conn.Query(ctx, `SELECT l FROM unnest($2::int[]) AS l WHERE pg_try_advisory_lock($1::int, l) LIMIT $3`,
		ss.s.laneClass, try, share-len(ss.held))
	if err != nil {
		return fmt.Errorf("take lanes: %w", err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return fmt.Errorf("take lanes: %w", err)
	}
	for _, l := range got {
		ss.held[int(l)] = true
	}
	return nil
}

func (ss *session) Fetch(ctx context.Context, limit int) ([]outbox.Row, error) {
	if err := ss.failed(); err != nil {
		return nil, err
	}
	if err := ss.balance(ctx); err != nil {
		return nil, err
	}
	if len(ss.held) == 0 {
		return nil, nil
	}
	lanes := make([]int32, 0, len(ss.held))
	for l := range ss.held {
		lanes = append(lanes, int32(l))
	}
	slices.Sort(lanes)
	rows, err := ss.conn.Query(ctx, ss.fetch, lanes, limit)
	if err != nil {
		return nil, fmt.Errorf("fetch: %w", err)
	}
	return pgx.CollectRows(rows, scanRow)
}

func scanRow(r pgx.CollectableRow) (outbox.Row, error) {
	var (
		row     outbox.Row
		ev      = &row.Event
		headers []byte
		ts      *time.Time
	)
	if err := r.Scan(&row.ID, &ev.Topic, &ev.Partition, &ev.Key, &ev.Value, &headers, &ev.EventID, &ts, &row.Created); err != nil {
		return row, err
	}
	hs, err := outbox.ParseHeaders(headers)
	if err != nil {
		return row, fmt.Errorf("row %d: %w", row.ID, err)
	}
	ev.Headers = hs
	if ts != nil {
		ev.Timestamp = *ts
	}
	return row, nil
}

// failed returns the listener's error once it has failed: the session is
// then done, and the relay opens another.
func (ss *session) failed() error {
	select {
	case err := <-ss.lost:
		ss.lost <- err
		return fmt.Errorf("pgoutbox: listener: %w", err)
	default:
		return nil
	}
}

func (ss *session) Mark(ctx context.Context, rows []outbox.Row) error {
	ids := make([]int64, len(rows))
	for i := range rows {
		ids[i] = rows[i].ID
	}
	_, err := ss.conn.Exec(ctx, "DELETE FROM "+ss.s.table+" WHERE id = ANY($1)", ids)
	if err != nil {
		return fmt.Errorf("pgoutbox: delete %d sent rows: %w", len(ids), err)
	}
	return nil
}

func (ss *session) Wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ss.wake:
	case <-t.C:
	case err := <-ss.lost:
		ss.lost <- err
		return fmt.Errorf("pgoutbox: listener: %w", err)
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// Close ends both connections: PostgreSQL releases the session's lane
// and membership locks with them.
func (ss *session) Close() error {
	ss.stop()
	<-ss.done
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return errors.Join(ss.conn.Close(ctx), ss.listen.Close(ctx))
}
