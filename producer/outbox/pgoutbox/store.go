package pgoutbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"regexp"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ordo-go/ordo/producer"
	"github.com/ordo-go/ordo/producer/outbox"
)

// Defaults of the store's options.
const (
	DefaultTable = "ordo_outbox"
	DefaultLanes = 16
)

// ErrInvalidConfig is wrapped by [New]'s errors.
var ErrInvalidConfig = errors.New("pgoutbox: invalid configuration")

// Option configures a [Store].
type Option interface{ apply(*Store) error }

type optionFunc func(*Store) error

func (f optionFunc) apply(s *Store) error { return f(s) }

var identRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,50}$`)

// Table sets the outbox table's name (default [DefaultTable]): lower-case
// letters, digits and underscores, as an unquoted PostgreSQL identifier,
// optionally qualified by a schema ("app.outbox"). The NOTIFY channel and
// the advisory lock classes are derived from it, so stores on different
// tables do not disturb each other.
func Table(name string) Option {
	return optionFunc(func(s *Store) error {
		schema, table := "", name
		for i := range len(name) {
			if name[i] == '.' {
				schema, table = name[:i], name[i+1:]
				break
			}
		}
		if !identRE.MatchString(table) || (schema != "" && !identRE.MatchString(schema)) {
			return fmt.Errorf("Table %q: want a lower-case identifier, optionally schema-qualified", name)
		}
		s.table = name
		return nil
	})
}

// Lanes sets how many lanes the rows are spread over for the relays to
// share (default [DefaultLanes]): at most that many relays work at once.
// Writers and relays of one table must agree on it; change it only with
// the table empty.
func Lanes(n int) Option {
	return optionFunc(func(s *Store) error {
		if n <= 0 || n > 1024 {
			return fmt.Errorf("Lanes %d: want 1 to 1024", n)
		}
		s.lanes = n
		return nil
	})
}

// Store is an outbox in a PostgreSQL table, written through pgx v5
// ([Store.Insert], in a pgx.Tx) or database/sql ([Store.SQL], in a
// *sql.Tx, with any PostgreSQL driver such as pgx's stdlib), and read by
// relays ([Store.Open]).
//
// # Per-key commit order
//
// Rows are published in the order of their IDs (a bigserial). A sequence
// hands out IDs when rows are inserted, not when they commit, so two
// transactions adding events of one key could commit in the other order
// than their IDs. Insert therefore takes a transaction-scoped advisory
// lock on the event's key (pg_advisory_xact_lock, held until commit or
// rollback) before it inserts: transactions adding events of one key are
// serialised, so for every key, ID order is commit order. A transaction
// that adds events of several keys should add them in a consistent key
// order, as for any lock, or PostgreSQL may abort it as a deadlock.
//
// # Relays
//
// A relay's session holds two connections: one that holds its lanes'
// session-level advisory locks and reads and deletes rows, and one that
// LISTENs for the NOTIFY each insert sends at commit. Lanes are balanced
// among the live sessions (counted through their membership locks in
// pg_locks) in [outbox.LaneOrder]. A relay that dies loses its locks when
// PostgreSQL closes its connection, and the next holder of a lane starts
// from its oldest row.
//
// Sent rows are deleted. A Store is safe for concurrent use.
type Store struct {
	connString string
	table      string
	lanes      int
	laneClass  int32 // advisory lock classes, derived from the table
	keyClass   int32
	memberCls  int32
	channel    string
	insertSQL  string
}

var (
	_ outbox.Store             = (*Store)(nil)
	_ outbox.Inserter[pgx.Tx]  = (*Store)(nil)
	_ outbox.Inserter[*sql.Tx] = SQL{}
)

// New returns a store on the table named by [Table] (default
// [DefaultTable]). connString (a pgx connection string or URL) is what
// relays' sessions connect with; writers use the caller's transactions
// and never connect. New does not connect; create the table with
// [Store.Init] or [Store.Schema].
func New(connString string, opts ...Option) (*Store, error) {
	s := &Store{connString: connString, table: DefaultTable, lanes: DefaultLanes}
	var errs []error
	for i, o := range opts {
		if o == nil {
			errs = append(errs, fmt.Errorf("Option %d is nil", i+1))
			continue
		}
		if err := o.apply(s); err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := pgx.ParseConfig(connString); err != nil {
		errs = append(errs, fmt.Errorf("connection string: %w", err))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
	}
	h := fnv.New32a()
	h.Write([]byte(s.table))
	base := int32(h.Sum32() & 0x1fffffff << 2) // positive, as pg_locks shows it (an oid)
	s.laneClass, s.keyClass, s.memberCls = base, base+1, base+2
	s.channel = "ordo_outbox_" + fmt.Sprintf("%08x", h.Sum32())
	s.insertSQL = fmt.Sprintf(`WITH l AS (SELECT pg_advisory_xact_lock(%d, $1::int)), n AS (SELECT pg_notify('%s', ''))
INSERT INTO %s (lane, topic, partition, key, value, headers, event_id, ts)
SELECT $2, $3, $4, $5, $6, $7, $8, $9 FROM l, n`, s.keyClass, s.channel, s.table)
	return s, nil
}

// Schema returns the DDL of the store's table and index, for a service's
// own migrations. It is idempotent (IF NOT EXISTS).
func (s *Store) Schema() string {
	return fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %[1]s (
	id        bigserial PRIMARY KEY,
	lane      integer NOT NULL,
	topic     text NOT NULL,
	partition integer NOT NULL,
	key       bytea,
	value     bytea NOT NULL,
	headers   bytea NOT NULL,
	event_id  text NOT NULL,
	ts        timestamptz,
	created   timestamptz NOT NULL DEFAULT clock_timestamp()
)`, s.table)
}

// Execer runs a statement: *pgx.Conn, pgx.Tx and *pgxpool.Pool are
// Execers.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Init creates the store's table if it does not exist.
func (s *Store) Init(ctx context.Context, db Execer) error {
	if _, err := db.Exec(ctx, s.Schema()); err != nil {
		return fmt.Errorf("pgoutbox: create table %s: %w", s.table, err)
	}
	return nil
}

// args returns the insert's arguments for ev.
func (s *Store) args(ev *producer.Sealed) []any {
	var ts any
	if !ev.Timestamp.IsZero() {
		ts = ev.Timestamp
	}
	var key any
	if ev.Key != nil {
		key = ev.Key
	}
	return []any{keyLock(ev), outbox.Lane(ev, s.lanes), ev.Topic, ev.Partition, key, ev.Value,
		outbox.AppendHeaders(nil, ev.Headers), ev.EventID, ts}
}

// keyLock is the advisory lock of ev's key: a hash of topic and key.
// Keys that share a hash only wait for each other's commit.
func keyLock(ev *producer.Sealed) int32 {
	h := fnv.New32a()
	h.Write([]byte(ev.Topic))
	h.Write([]byte{0})
	h.Write(ev.Key)
	return int32(h.Sum32())
}

// Insert adds ev to the outbox inside tx (see [outbox.Inserter]), after
// taking its key's transaction lock (see Store's doc), and notifies the
// relays at commit. One round trip.
func (s *Store) Insert(ctx context.Context, tx pgx.Tx, ev *producer.Sealed) error {
	if tx == nil || ev == nil {
		return errors.New("pgoutbox: nil transaction or event")
	}
	_, err := tx.Exec(ctx, s.insertSQL, s.args(ev)...)
	return err
}

// SQL is a [Store]'s inserter for database/sql transactions.
type SQL struct{ s *Store }

// SQL returns the store's inserter for *sql.Tx (any PostgreSQL driver:
// pgx's stdlib, lib/pq).
func (s *Store) SQL() SQL { return SQL{s} }

// Insert is [Store.Insert] in a database/sql transaction.
func (q SQL) Insert(ctx context.Context, tx *sql.Tx, ev *producer.Sealed) error {
	if q.s == nil || tx == nil || ev == nil {
		return errors.New("pgoutbox: nil store, transaction or event")
	}
	_, err := tx.ExecContext(ctx, q.s.insertSQL, q.s.args(ev)...)
	return err
}
