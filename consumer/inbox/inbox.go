package inbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordo-go/ordo/consumer"
)

// Store keeps the done marks of handled records, written in the same
// database transaction (of type Tx) as the handler's side effects.
// Implementations are safe for concurrent use.
type Store[Tx any] interface {
	// Do begins a transaction, writes the mark (scope, id) in it and, if
	// the mark is new, runs fn in the transaction and commits it when fn
	// returns nil. If the mark was committed before, Do runs nothing and
	// returns duplicate true. If fn or the commit fails, the transaction
	// rolls back with the mark and Do returns the error, so a retry runs
	// fn again. A concurrent Do of the same mark waits for this one's
	// outcome (a database does so on the mark's unique key).
	Do(ctx context.Context, scope, id string, fn func(ctx context.Context, tx Tx) error) (duplicate bool, err error)
	// Purge deletes the marks written before t and returns how many.
	Purge(ctx context.Context, before time.Time) (int64, error)
}

// Defaults of the inbox's options.
const (
	DefaultScope     = "default"
	DefaultRetention = 7 * 24 * time.Hour
)

// Option configures an [Inbox].
type Option interface{ apply(*config) }

type config struct {
	scope     string
	retention time.Duration
	mp        metric.MeterProvider
	log       *slog.Logger
	errs      []error
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// Scope names the inbox's marks (default [DefaultScope]): a record is a
// duplicate only of a record handled under the same scope. Give each
// consumer group (or each handler that must see every event) its own
// scope on a shared store.
func Scope(name string) Option {
	return optionFunc(func(c *config) {
		if name == "" {
			c.errs = append(c.errs, errors.New("Scope: empty name"))
		}
		c.scope = name
	})
}

// Retention sets how long marks are kept (default [DefaultRetention]):
// [Inbox.Purge] and [Inbox.RunJanitor] delete older ones. A record
// redelivered after its mark was deleted is handled again, so the
// retention must outlast every way a record comes back: redelivery after
// a crash or rebalance (seconds to minutes), a replay from an older
// offset, a redrive from the dead-letter topic, an outbox relay's
// duplicate.
func Retention(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d <= 0 {
			c.errs = append(c.errs, fmt.Errorf("Retention %v: must be positive", d))
		}
		c.retention = d
	})
}

// WithMeterProvider sets where the ordo.inbox.duplicates counter is
// recorded (default: OpenTelemetry's global provider).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *config) { c.mp = mp })
}

// WithLogger sets the logger of the janitor (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) { c.log = l })
}

// ErrInvalidConfig is wrapped by [New]'s errors.
var ErrInvalidConfig = errors.New("inbox: invalid configuration")

// Inbox makes a handler's side effects and its record's done mark one
// database transaction, so that a record delivered again (after a crash
// before the offset commit, a rebalance, a replay, an outbox duplicate) is
// recognised and skipped. It is safe for concurrent use.
type Inbox[Tx any] struct {
	store     Store[Tx]
	scope     string
	retention time.Duration
	log       *slog.Logger
	dups      atomic.Int64
	counter   metric.Int64Counter
	attrs     metric.MeasurementOption
}

// New returns an inbox on store. Errors wrap [ErrInvalidConfig].
func New[Tx any](store Store[Tx], opts ...Option) (*Inbox[Tx], error) {
	cfg := config{scope: DefaultScope, retention: DefaultRetention}
	for i, o := range opts {
		if o == nil {
			cfg.errs = append(cfg.errs, fmt.Errorf("Option %d is nil", i+1))
			continue
		}
		o.apply(&cfg)
	}
	if store == nil {
		cfg.errs = append(cfg.errs, errors.New("nil store"))
	}
	if len(cfg.errs) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(cfg.errs...))
	}
	if cfg.mp == nil {
		cfg.mp = otel.GetMeterProvider()
	}
	if cfg.log == nil {
		cfg.log = slog.Default()
	}
	counter, err := cfg.mp.Meter("github.com/ordo-go/ordo/consumer/inbox").Int64Counter("ordo.inbox.duplicates",
		metric.WithUnit("{record}"), metric.WithDescription("Records skipped because their mark was already committed"))
	if err != nil {
		return nil, fmt.Errorf("inbox: metrics: %w", err)
	}
	return &Inbox[Tx]{
		store: store, scope: cfg.scope, retention: cfg.retention, log: cfg.log, counter: counter,
		attrs: metric.WithAttributeSet(attribute.NewSet(attribute.String("ordo.inbox.scope", cfg.scope))),
	}, nil
}

// Key returns the mark of the record m describes: its event ID (the
// ordo-id header), or "topic/partition/offset" for a record without one.
// The offset form recognises a redelivery of the same record, not a copy
// of its event written again.
func Key(m consumer.Meta) string {
	if id := m.EventID(); id != "" {
		return id
	}
	return m.Topic + "/" + strconv.FormatInt(int64(m.Partition), 10) + "/" + strconv.FormatInt(m.Offset, 10)
}

// Handle wraps h into a consumer handler that runs h in a transaction of
// in's store together with the record's mark ([Key]). A record whose
// mark is already committed is skipped: h is not called, the handler
// returns nil (the record is done), [Inbox.Duplicates] and the
// ordo.inbox.duplicates counter count it, and the record's span gets the
// attribute ordo.inbox.duplicate=true and an event of that name.
//
// h's error rolls the transaction back, mark included, and is returned as
// is: the consumer retries it (each attempt a new transaction), or
// dead-letters it under its failure policy, like any handler error.
// Everything h writes through tx is kept exactly once; anything it does
// outside tx (an HTTP call, a publish) is not covered.
func Handle[T, Tx any](in *Inbox[Tx], h func(ctx context.Context, tx Tx, ev T, m consumer.Meta) error) consumer.Handler[T] {
	return func(ctx context.Context, ev T, m consumer.Meta) error {
		key := Key(m)
		dup, err := in.store.Do(ctx, in.scope, key, func(ctx context.Context, tx Tx) error {
			return h(ctx, tx, ev, m)
		})
		if err != nil {
			return err
		}
		if dup {
			in.duplicate(ctx, key)
		}
		return nil
	}
}

func (in *Inbox[Tx]) duplicate(ctx context.Context, key string) {
	in.dups.Add(1)
	in.counter.Add(ctx, 1, in.attrs)
	span := trace.SpanFromContext(ctx)
	if span.IsRecording() {
		span.SetAttributes(attribute.Bool("ordo.inbox.duplicate", true))
		span.AddEvent("ordo.inbox.duplicate", trace.WithAttributes(attribute.String("ordo.inbox.key", key),
			attribute.String("ordo.inbox.scope", in.scope)))
	}
}

// Duplicates returns how many records the inbox skipped as duplicates
// since it was made.
func (in *Inbox[Tx]) Duplicates() int64 { return in.dups.Load() }

// Purge deletes the marks older than the [Retention] and returns how
// many.
func (in *Inbox[Tx]) Purge(ctx context.Context) (int64, error) {
	n, err := in.store.Purge(ctx, time.Now().Add(-in.retention))
	if err != nil {
		return n, fmt.Errorf("inbox: purge marks older than %v: %w", in.retention, err)
	}
	return n, nil
}

// JanitorInterval returns how often [Inbox.RunJanitor] purges: a tenth
// of the retention, between a minute and an hour. Marks live at most
// retention plus this long.
func (in *Inbox[Tx]) JanitorInterval() time.Duration {
	return min(max(in.retention/10, time.Minute), time.Hour)
}

// RunJanitor purges old marks at once and then every
// [Inbox.JanitorInterval] until ctx ends; it returns nil then. A failed
// purge is logged and tried again at the next interval. Run one janitor
// per store and scope (more only repeat the work).
func (in *Inbox[Tx]) RunJanitor(ctx context.Context) error {
	t := time.NewTicker(in.JanitorInterval())
	defer t.Stop()
	for {
		if n, err := in.Purge(ctx); err != nil && ctx.Err() == nil {
			in.log.WarnContext(ctx, "ordo inbox: purge failed", "err", err)
		} else if n > 0 {
			in.log.DebugContext(ctx, "ordo inbox: purged marks", "n", n, "scope", in.scope)
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil
		}
	}
}
