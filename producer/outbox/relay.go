package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ordo-go/ordo/producer"
)

// Defaults of the relay's options.
const (
	DefaultBatchSize = 1000
	DefaultPoll      = 250 * time.Millisecond
	DefaultBackoff   = time.Second
	// markTimeout bounds marking a batch once the relay is stopping: the
	// broker has acknowledged it, and a mark that does not land only
	// costs duplicates.
	markTimeout = 10 * time.Second
)

// RelayOption configures a [Relay].
type RelayOption interface{ apply(*relayConfig) }

type relayConfig struct {
	batch   int
	poll    time.Duration
	backoff time.Duration
	log     *slog.Logger
	errs    []error
}

type relayOpt func(*relayConfig)

func (f relayOpt) apply(c *relayConfig) { f(c) }

// BatchSize sets how many rows the relay fetches, publishes and marks at
// a time (default [DefaultBatchSize]).
func BatchSize(n int) RelayOption {
	return relayOpt(func(c *relayConfig) {
		if n <= 0 {
			c.errs = append(c.errs, fmt.Errorf("BatchSize %d: must be positive", n))
		}
		c.batch = n
	})
}

// Poll sets how long the relay waits for a wake-up from the store
// (PostgreSQL's NOTIFY, the memory store's commit) before it looks again
// anyway (default [DefaultPoll]): the latency bound when wake-ups are
// lost.
func Poll(d time.Duration) RelayOption {
	return relayOpt(func(c *relayConfig) {
		if d <= 0 {
			c.errs = append(c.errs, fmt.Errorf("Poll %v: must be positive", d))
		}
		c.poll = d
	})
}

// Backoff sets how long the relay waits after the store or the broker
// failed before it tries again (default [DefaultBackoff]).
func Backoff(d time.Duration) RelayOption {
	return relayOpt(func(c *relayConfig) {
		if d <= 0 {
			c.errs = append(c.errs, fmt.Errorf("Backoff %v: must be positive", d))
		}
		c.backoff = d
	})
}

// WithLogger sets the relay's logger (default slog.Default()).
func WithLogger(l *slog.Logger) RelayOption {
	return relayOpt(func(c *relayConfig) { c.log = l })
}

// Relay publishes committed outbox rows to Kafka through a producer and
// marks them sent once the broker acknowledged them. Run several relays
// (one per service replica) on one store: each holds some of the store's
// lanes, and a key's rows are published by one relay at a time, in ID
// order.
//
// # What is guaranteed
//
//   - No loss: a row is marked only after its record was acknowledged
//     (acks from all in-sync replicas, as the producer writes every
//     record); rows not marked are published again.
//   - Per-key order: the rows of a key are published in ID order, which
//     the store makes its commit order, by one relay at a time. A relay
//     that takes a lane over starts from its oldest unmarked row, so even
//     if the previous holder's last records land late, every event's
//     first copy on the topic follows its predecessors' first copies.
//   - A failed record: later rows of its key in the batch are not marked
//     either, and the batch is published again from the failed row. The
//     producer fails the records buffered behind a record that timed out
//     (see producer.DeliveryTimeout), so a later row of the key is not
//     normally written past a failed one; where a broker refusal lets one
//     through, it appears again after the failed row, and its first copy
//     precedes it, as when a Publisher's caller publishes again after a
//     failure.
//   - Duplicates only where a relay published rows and died (or lost its
//     store session) before marking them: each duplicate carries the same
//     ordo-id as its first copy, so an idempotent consumer (package
//     consumer/inbox) drops it.
//
// A relay whose store session is lost stops fetching at once, but records
// it handed to the producer before may still be written, for up to the
// producer's DeliveryTimeout: the store should not hand the session's
// lanes to another relay sooner (PostgreSQL keeps a broken session's
// locks until it notices the connection is gone).
type Relay struct {
	p     *producer.Producer
	store Store
	cfg   relayConfig

	published atomic.Int64
	failed    atomic.Int64
	batches   atomic.Int64
	running   atomic.Bool
}

// NewRelay returns a relay that publishes the rows of store through p.
// The relay does not own p: close it after [Relay.Run] returns. Errors
// wrap producer.ErrInvalidConfig.
func NewRelay(p *producer.Producer, store Store, opts ...RelayOption) (*Relay, error) {
	cfg := relayConfig{batch: DefaultBatchSize, poll: DefaultPoll, backoff: DefaultBackoff}
	for i, o := range opts {
		if o == nil {
			cfg.errs = append(cfg.errs, fmt.Errorf("RelayOption %d is nil", i+1))
			continue
		}
		o.apply(&cfg)
	}
	if p == nil || store == nil {
		cfg.errs = append(cfg.errs, errors.New("NewRelay needs a producer and a store"))
	}
	if len(cfg.errs) > 0 {
		return nil, fmt.Errorf("outbox: %w: %w", producer.ErrInvalidConfig, errors.Join(cfg.errs...))
	}
	if cfg.log == nil {
		cfg.log = slog.Default()
	}
	return &Relay{p: p, store: store, cfg: cfg}, nil
}

// Stats counts a relay's work since it was made.
type Stats struct {
	Published int64 // rows acknowledged by the broker and marked
	Failed    int64 // records the producer failed (their rows are fetched again)
	Batches   int64 // batches fetched
}

// Stats returns the relay's counters. It is safe for concurrent use.
func (r *Relay) Stats() Stats {
	return Stats{Published: r.published.Load(), Failed: r.failed.Load(), Batches: r.batches.Load()}
}

// ErrRunning is returned by [Relay.Run] when the relay is already running.
var ErrRunning = errors.New("outbox: relay already running")

// Run relays until ctx ends, then finishes the batch in flight (waiting
// for its acknowledgements, bounded by the producer's DeliveryTimeout, and
// marking it) and returns nil. Store and broker failures are logged and
// retried after the [Backoff]; a session that fails is closed and a new
// one opened. Run returns early only with an error wrapping
// producer.ErrClosed (the producer was closed) or [ErrRunning].
func (r *Relay) Run(ctx context.Context) error {
	if !r.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer r.running.Store(false)
	for ctx.Err() == nil {
		sess, err := r.store.Open(ctx)
		if err != nil {
			if ctx.Err() == nil {
				r.cfg.log.WarnContext(ctx, "ordo outbox relay: open a store session", "err", err)
				r.sleep(ctx)
			}
			continue
		}
		err = r.serve(ctx, sess)
		if cerr := sess.Close(); cerr != nil && ctx.Err() == nil {
			r.cfg.log.WarnContext(ctx, "ordo outbox relay: close the store session", "err", cerr)
		}
		if errors.Is(err, producer.ErrClosed) {
			return fmt.Errorf("outbox: relay: %w", err)
		}
		if err != nil && ctx.Err() == nil {
			r.cfg.log.WarnContext(ctx, "ordo outbox relay: store session failed; opening another", "err", err)
			r.sleep(ctx)
		}
	}
	return nil
}

func (r *Relay) sleep(ctx context.Context) {
	t := time.NewTimer(r.cfg.backoff)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// serve relays through one session until it fails or ctx ends.
func (r *Relay) serve(ctx context.Context, sess Session) error {
	for ctx.Err() == nil {
		rows, err := sess.Fetch(ctx, r.cfg.batch)
		if err != nil {
			return fmt.Errorf("fetch: %w", err)
		}
		if len(rows) == 0 {
			if err := sess.Wait(ctx, r.cfg.poll); err != nil && ctx.Err() == nil {
				return fmt.Errorf("wait: %w", err)
			}
			continue
		}
		r.batches.Add(1)
		done, perr := r.publish(ctx, rows)
		if len(done) > 0 {
			mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markTimeout)
			err := sess.Mark(mctx, done)
			cancel()
			if err != nil {
				return fmt.Errorf("mark %d rows: %w", len(done), err)
			}
			r.published.Add(int64(len(done)))
		}
		if perr != nil {
			if errors.Is(perr, producer.ErrClosed) {
				return perr
			}
			if ctx.Err() != nil {
				return nil // stopping: the rows not sent stay for the next relay
			}
			r.cfg.log.WarnContext(ctx, "ordo outbox relay: publish failed; the rows not acknowledged are published again",
				"rows", len(rows), "acknowledged", len(done), "err", perr)
			r.sleep(ctx)
		}
	}
	return nil
}

// publish hands rows to the producer in order and waits for every
// outcome. It returns the rows to mark: those acknowledged, except any
// row that follows a failed one of its key (see Relay's order guarantee),
// and the first error seen.
func (r *Relay) publish(ctx context.Context, rows []Row) ([]Row, error) {
	errs := make([]error, len(rows))
	var wg sync.WaitGroup
	for i := range rows {
		wg.Add(1)
		err := r.p.PublishSealed(ctx, &rows[i].Event, func(_ producer.Result, err error) {
			errs[i] = err
			wg.Done()
		})
		if err != nil {
			wg.Done()
			for j := i; j < len(rows); j++ {
				errs[j] = err
			}
			break
		}
	}
	wg.Wait()
	var (
		first  error
		failed map[string]bool // topic, 0, key of the keys with a failed row
		done   = rows[:0:0]
	)
	for i := range rows {
		ev := &rows[i].Event
		k := ""
		if ev.Key != nil {
			k = ev.Topic + "\x00" + string(ev.Key)
		}
		if errs[i] != nil {
			r.failed.Add(1)
			first = cmpOr(first, errs[i])
			if k != "" {
				if failed == nil {
					failed = make(map[string]bool)
				}
				failed[k] = true
			}
			continue
		}
		if k == "" || !failed[k] {
			done = append(done, rows[i])
		}
	}
	return done, first
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
