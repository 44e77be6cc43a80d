// Package pginbox is the PostgreSQL store of ordo's idempotent consumer
// (package github.com/ordo-go/ordo/consumer/inbox): [Store] through pgx v5
// (transactions are pgx.Tx), [SQLStore] through database/sql
// (transactions are *sql.Tx, any PostgreSQL driver). It is a module of its
// own, so that services that do not use PostgreSQL do not carry its
// driver.
//
//	store, err := pginbox.New(pool) // a *pgxpool.Pool
//	...
//	err = store.Init(ctx, pool) // or put store.Schema() in a migration
//	in, err := inbox.New(store, inbox.Scope("billing"))
//	... consumer.On(codec, inbox.Handle(in, func(ctx context.Context, tx pgx.Tx, ev OrderPaid, m consumer.Meta) error {
//		... // the side effects, through tx
//	}))
//
// A mark is a row (scope, id, at) with (scope, id) its primary key. Do
// inserts it first, with ON CONFLICT DO NOTHING: a mark already committed
// makes the insert a no-op (a duplicate), and a mark another transaction
// is inserting makes this one wait for that transaction's outcome, so two
// deliveries of one record at once apply its effects once.
//
// The tests behind the build tag integration start a PostgreSQL server of
// their own (see internal/pgtest) or use the one ORDO_TEST_POSTGRES names.
package pginbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ordo-go/ordo/consumer/inbox"
)

// DefaultTable is the marks table's default name.
const DefaultTable = "ordo_inbox"

// purgeBatch bounds the rows one DELETE of [Store.Purge] removes, so a
// purge never holds many row locks or a long transaction.
const purgeBatch = 10_000

// ErrInvalidConfig is wrapped by the constructors' errors.
var ErrInvalidConfig = errors.New("pginbox: invalid configuration")

// Option configures a store.
type Option interface{ apply(*tables) error }

type optionFunc func(*tables) error

func (f optionFunc) apply(t *tables) error { return f(t) }

var identRE = regexp.MustCompile(`^([a-z_][a-z0-9_]{0,50}\.)?[a-z_][a-z0-9_]{0,50}$`)

// Table sets the marks table's name (default [DefaultTable]): a lower-case
// unquoted identifier, optionally schema-qualified.
func Table(name string) Option {
	return optionFunc(func(t *tables) error {
		if !identRE.MatchString(name) {
			return fmt.Errorf("Table %q: want a lower-case identifier, optionally schema-qualified", name)
		}
		t.name = name
		return nil
	})
}

// tables is the SQL both stores run.
type tables struct {
	name   string
	insert string
	purge  string
}

func newTables(opts []Option) (tables, error) {
	t := tables{name: DefaultTable}
	var errs []error
	for i, o := range opts {
		if o == nil {
			errs = append(errs, fmt.Errorf("Option %d is nil", i+1))
			continue
		}
		if err := o.apply(&t); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return t, fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
	}
	t.insert = "INSERT INTO " + t.name + " (scope, id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
	t.purge = fmt.Sprintf("DELETE FROM %[1]s WHERE ctid IN (SELECT ctid FROM %[1]s WHERE at < $1 LIMIT %d)", t.name, purgeBatch)
	return t, nil
}

// Schema returns the DDL of the marks table, for a service's own
// migrations. It is idempotent (IF NOT EXISTS).
func (t tables) Schema() string {
	return fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %[1]s (
	scope text NOT NULL,
	id    text NOT NULL,
	at    timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (scope, id)
);
CREATE INDEX IF NOT EXISTS %[2]s_at ON %[1]s (at)`, t.name, indexName(t.name))
}

// indexName is the table's name without its schema, for the index.
func indexName(table string) string {
	for i := len(table) - 1; i >= 0; i-- {
		if table[i] == '.' {
			return table[i+1:]
		}
	}
	return table
}

// Beginner begins pgx transactions: *pgxpool.Pool and *pgx.Conn are
// Beginners (a *pgx.Conn serves one transaction at a time: give a
// consumer with several lanes a pool).
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Execer runs a statement: *pgx.Conn, pgx.Tx and *pgxpool.Pool are
// Execers.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Store keeps inbox marks in PostgreSQL through pgx. It is safe for
// concurrent use as far as its Beginner is.
type Store struct {
	db Beginner
	t  tables
}

var _ inbox.Store[pgx.Tx] = (*Store)(nil)

// New returns a store whose transactions db begins. Errors wrap
// [ErrInvalidConfig].
func New(db Beginner, opts ...Option) (*Store, error) {
	if db == nil {
		return nil, fmt.Errorf("%w: nil database", ErrInvalidConfig)
	}
	t, err := newTables(opts)
	if err != nil {
		return nil, err
	}
	return &Store{db: db, t: t}, nil
}

// Schema returns the DDL of the store's table (see [Store.Init]).
func (s *Store) Schema() string { return s.t.Schema() }

// Init creates the store's table and index if they do not exist.
//
// Init is for tests and small services. It takes locks: CREATE INDEX IF
// NOT EXISTS holds a SHARE lock on the table even when the index exists,
// so an Init while inbox transactions run waits for them and blocks new
// ones meanwhile, and two instances creating the table at the same moment
// can fail on PostgreSQL's catalog (a duplicate pg_type). A service with
// replicas runs [Store.Schema]'s DDL once, in its migrations, instead.
func (s *Store) Init(ctx context.Context, db Execer) error {
	if _, err := db.Exec(ctx, s.t.Schema()); err != nil {
		return fmt.Errorf("pginbox: create table %s: %w", s.t.name, err)
	}
	return nil
}

// Do is [inbox.Store.Do]: the mark is inserted first, then fn runs, then
// the transaction commits; any failure rolls it all back.
func (s *Store) Do(ctx context.Context, scope, id string, fn func(context.Context, pgx.Tx) error) (bool, error) {
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("pginbox: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	tag, err := tx.Exec(ctx, s.t.insert, scope, id)
	if err != nil {
		return false, fmt.Errorf("pginbox: mark %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return true, nil
	}
	if err := fn(ctx, tx); err != nil {
		return false, err
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("pginbox: commit %s: %w", id, err)
	}
	return false, nil
}

// Purge is [inbox.Store.Purge], in deletes of at most 10,000 rows.
func (s *Store) Purge(ctx context.Context, before time.Time) (int64, error) {
	return purge(ctx, func(ctx context.Context) (int64, error) {
		tx, err := s.db.Begin(ctx)
		if err != nil {
			return 0, err
		}
		defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
		tag, err := tx.Exec(ctx, s.t.purge, before)
		if err != nil {
			return 0, err
		}
		return tag.RowsAffected(), tx.Commit(ctx)
	})
}

// purge runs del until a delete removes less than a batch.
func purge(ctx context.Context, del func(context.Context) (int64, error)) (int64, error) {
	var total int64
	for {
		n, err := del(ctx)
		total += n
		if err != nil {
			return total, fmt.Errorf("pginbox: purge: %w", err)
		}
		if n < purgeBatch {
			return total, nil
		}
	}
}

// SQLStore keeps inbox marks in PostgreSQL through database/sql: its
// transactions are *sql.Tx. It is safe for concurrent use.
type SQLStore struct {
	db *sql.DB
	t  tables
}

var _ inbox.Store[*sql.Tx] = (*SQLStore)(nil)

// NewSQL returns a store on db (any PostgreSQL driver, such as pgx's
// stdlib). Errors wrap [ErrInvalidConfig].
func NewSQL(db *sql.DB, opts ...Option) (*SQLStore, error) {
	if db == nil {
		return nil, fmt.Errorf("%w: nil database", ErrInvalidConfig)
	}
	t, err := newTables(opts)
	if err != nil {
		return nil, err
	}
	return &SQLStore{db: db, t: t}, nil
}

// Schema returns the DDL of the store's table.
func (s *SQLStore) Schema() string { return s.t.Schema() }

// Init creates the store's table and index if they do not exist; see
// [Store.Init] for the locks it takes.
func (s *SQLStore) Init(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, s.t.Schema()); err != nil {
		return fmt.Errorf("pginbox: create table %s: %w", s.t.name, err)
	}
	return nil
}

// Do is [Store.Do] in a database/sql transaction.
func (s *SQLStore) Do(ctx context.Context, scope, id string, fn func(context.Context, *sql.Tx) error) (bool, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("pginbox: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	res, err := tx.ExecContext(ctx, s.t.insert, scope, id)
	if err != nil {
		return false, fmt.Errorf("pginbox: mark %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return err == nil, err
	}
	if err := fn(ctx, tx); err != nil {
		return false, err
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("pginbox: commit %s: %w", id, err)
	}
	return false, nil
}

// Purge is [Store.Purge].
func (s *SQLStore) Purge(ctx context.Context, before time.Time) (int64, error) {
	return purge(ctx, func(ctx context.Context) (int64, error) {
		res, err := s.db.ExecContext(ctx, s.t.purge, before)
		if err != nil {
			return 0, err
		}
		return res.RowsAffected()
	})
}
