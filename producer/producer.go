package producer

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/internal/client"
	"github.com/ordo-go/ordo/internal/telemetry"
	"github.com/ordo-go/ordo/partition"
	"github.com/ordo-go/ordo/schema"
)

// numStripes is the number of per-key locks. Stamping a key's sequence and
// handing its record to kgo happen under the key's stripe, so sequence
// order is produce order for every key; distinct keys rarely share one.
const numStripes = 64

// kgoSlack is how far kgo's own record limit sits above the producer's.
// The producer frees a buffer slot in the record's promise, and kgo
// decrements its count just after the promise returns; without slack a
// record could find kgo full for that instant and block inside the key's
// stripe lock.
const kgoSlack = 64

// Producer publishes typed, keyed events to Kafka through publishers made
// with [NewPublisher] and [NewUnorderedPublisher]. It owns one franz-go
// client: idempotent, acks from all in-sync replicas, murmur2 key
// placement guarded against partition-count changes, and a bounded buffer
// that pushes back.
//
// A Producer is safe for concurrent use. Close it (or Shutdown it) when
// done; the schema registry it was given stays open.
type Producer struct {
	cl        *kgo.Client
	reg       *schema.Registry
	subjects  schema.SubjectStrategy
	mode      schema.Mode // default Registration
	instance  []byte      // ordo-producer header value
	log       *slog.Logger
	tel       telemetry.Config
	tracer    *sendTracer
	prop      *telemetry.Propagation
	ins       instruments
	stamper   *partition.Stamper
	guard     *guarded
	reserved  []string         // header names a user may not set (see checkHeader)
	delivery  time.Duration    // the DeliveryTimeout, which bounds a Timestamp's age
	deadlines *deadlines       // every record's delivery deadline
	connOpts  func() []kgo.Opt // how to reach the cluster, for count.go's reads
	slots     *slots           // the buffer bound: a slot per record not yet reported
	seed      maphash.Seed
	clock     wallClock
	stripes   [numStripes]stripe

	// mu orders handing records to kgo (read lock) against closing
	// (write lock): once closed is set no record reaches the client, so
	// kgo's Close fails every record it holds and slots drains.
	mu        sync.RWMutex
	closed    bool
	isClosed  atomic.Bool   // lock-free early check
	done      chan struct{} // closed by Close: wakes waits for a slot
	closeOnce sync.Once

	typesMu sync.Mutex
	types   map[string]string // TopicName subject → record name, this producer's

	sealed sync.Map // sealedKey → *core: how PublishSealed sends (seal.go)
}

type stripe struct {
	sync.Mutex
	_ [56]byte // keep stripes on separate cache lines
}

// New returns a producer configured by opts. [Brokers] and [Registry] are
// required. New does not contact the brokers: the client connects on first
// use. An unreachable cluster or a refused login shows up within seconds
// as a warning or error on the logger ([WithLogger]) and, once the
// [DeliveryTimeout] has passed, as publish errors wrapping
// [ErrDeliveryTimeout].
//
// Errors wrap [ErrInvalidConfig] (every configuration problem found is
// reported, joined).
func New(opts ...Option) (*Producer, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if o == nil {
			cfg.fail("nil Option")
			continue
		}
		o.apply(&cfg)
	}
	for _, err := range cfg.set.Errs(true) {
		cfg.fail("%w", err)
	}
	if len(cfg.errs) > 0 {
		return nil, errors.Join(cfg.errs...)
	}
	log := telemetry.Logger(cfg.set.Logger())
	cfg.tel = cfg.tel.Resolve()
	if !cfg.idSet {
		cfg.instanceID = uuid.NewString()
	}
	ins, err := newInstruments(cfg.tel)
	if err != nil {
		return nil, fmt.Errorf("producer: metrics: %w", err)
	}
	guard := newGuarded(cfg.policy, log, cfg.tel)
	cl, err := cfg.set.NewWriter(writer(&cfg, guard, log))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return &Producer{
		cl:        cl,
		reg:       cfg.set.Registry(),
		subjects:  cfg.subjects,
		mode:      cfg.mode,
		instance:  []byte(cfg.instanceID),
		log:       log,
		tel:       cfg.tel,
		tracer:    newSendTracer(cfg.tel.TracerProvider),
		prop:      telemetry.NewPropagation(cfg.tel.Propagator),
		ins:       ins,
		stamper:   partition.NewStamper(0),
		guard:     guard,
		reserved:  reservedHeaders(cfg.tel.Propagator.Fields()),
		delivery:  cfg.delivery,
		deadlines: newDeadlines(cfg.delivery),
		connOpts: func() []kgo.Opt {
			return append(cfg.set.ClientOpts(log), cfg.set.Raw()...)
		},
		slots: newSlots(cfg.maxBuffered, cfg.maxBufferedBytes),
		seed:  maphash.MakeSeed(),
		done:  make(chan struct{}),
		types: make(map[string]string),
	}, nil
}

// writer is the producer's part of its client: the shared writer
// settings (internal/client: acks=all, idempotence, cancellable writes)
// with the producer's linger, delivery timeout and partition-count guard;
// its buffer bound goes last, over the raw options.
func writer(cfg *config, guard *guarded, log *slog.Logger) client.Writer {
	return client.Writer{
		Log:             log,
		Linger:          cfg.linger,
		DeliveryTimeout: cfg.delivery,
		Partitioner:     guard,
		Own:             []kgo.Opt{kgo.MetadataMaxAge(DefaultMetadataMaxAge), kgo.WithHooks(&authWatch{log: log})},
		Last:            []kgo.Opt{kgo.MaxBufferedRecords(cfg.maxBuffered + kgoSlack)},
	}
}

// Name returns the name written into the ordo-producer header (see the
// option [Name]).
func (p *Producer) Name() string {
	if p == nil {
		return ""
	}
	return string(p.instance)
}

// InstanceID is [Producer.Name].
//
// Deprecated: use Name.
func (p *Producer) InstanceID() string { return p.Name() }

// made reports whether p was made by [New]: a nil or zero Producer has no
// client, and its methods return errNotMade rather than panic.
func (p *Producer) made() bool { return p != nil && p.cl != nil }

// Flush blocks until every record handed to Kafka before the call is
// acknowledged or failed (their done callbacks have run), or ctx ends
// (returning ctx's error; the records stay buffered). Records still waiting
// for buffer space are not waited for. After Close it returns [ErrClosed].
//
// Do not call Flush from a done callback: callbacks run one at a time and
// Flush would wait on itself.
func (p *Producer) Flush(ctx context.Context) error {
	if !p.made() {
		return errNotMade
	}
	if p.isClosed.Load() {
		return ErrClosed
	}
	if err := p.cl.Flush(ctx); err != nil {
		return fmt.Errorf("producer: flush: %w", err)
	}
	return nil
}

// Close stops the producer without waiting for buffered records: each one
// fails with an error matching [ErrClosed], publishers blocked waiting for
// buffer space return [ErrClosed], and so does every later call. Close
// returns once every done callback has run. It does not wait on the
// brokers: franz-go gives a final metrics push at most a second, then
// abandons every request (with a broker black-holed or refusing, Close
// took 1.0 s at most in TestDeliveryTimeoutWhenBrokerGoes). It is
// idempotent and safe to call concurrently; it must not be called from a
// done callback. Use [Producer.Shutdown] to deliver buffered records
// first.
func (p *Producer) Close() {
	if !p.made() {
		return
	}
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		p.isClosed.Store(true)
		close(p.done)
		p.mu.Unlock()
		p.cl.Close()
		p.slots.drain()
	})
}

// Shutdown flushes buffered records, waiting until they are acknowledged or
// ctx ends, then closes the producer. It returns ctx's error if the flush
// was cut short (the records left fail with [ErrClosed]) and [ErrClosed] if
// the producer was already closed.
func (p *Producer) Shutdown(ctx context.Context) error {
	if !p.made() {
		return errNotMade
	}
	if p.isClosed.Load() {
		return ErrClosed
	}
	err := p.cl.Flush(ctx)
	p.Close()
	if err != nil {
		return fmt.Errorf("producer: shutdown: %w", err)
	}
	return nil
}

// acquire takes a buffer slot and the record's bytes, waiting for them if
// wait is set.
func (p *Producer) acquire(ctx context.Context, size int64, wait bool) error {
	if !wait {
		if p.slots.try(size) {
			return nil
		}
		return ErrBufferFull
	}
	return p.slots.take(ctx, p.done, size)
}

// send hands one prepared record to kgo: the one path every event takes,
// ordered or not, sync or async. ctx is the caller's; the event's span
// starts here, a child of ctx, and becomes in.rec.Context's parent, so
// kgo's hooks and the partitioner see the caller's values and the span. A
// record refused here ends its span at once; one handed over ends it in
// the promise.
func (p *Producer) send(ctx context.Context, in *inflight, wait bool) error {
	p.startSpan(ctx, in)
	if err := p.handOver(ctx, in, wait); err != nil {
		p.finish(in, "", false, err)
		return err
	}
	return nil // in may be freed already: the promise can run before Produce returns
}

// handOver takes a buffer slot and gives the record to kgo.
//
// The sequence is stamped and the record handed to kgo under the key's
// stripe lock, so for every key the order of ordo-seq is the order kgo
// receives the records, which (idempotent, one partition per key) is the
// order they are written. Sealing and trace-context injection happen
// before the lock: only the sequence needs it.
func (p *Producer) handOver(ctx context.Context, in *inflight, wait bool) error {
	if p.isClosed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err // ended before the call: send nothing, even with room
	}
	in.size = in.heldBytes()
	if err := p.acquire(ctx, in.size, wait); err != nil {
		return err
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		p.slots.drop(in.size)
		return ErrClosed
	}
	in.seal()
	p.prop.Inject(in.parent, &in.rec)
	if !in.c.ordered {
		p.cl.Produce(in.dl.ctx, &in.rec, promise)
		return nil
	}
	s := &p.stripes[maphash.Bytes(p.seed, in.seqKey())%numStripes]
	s.Lock()
	in.stamp(p.stamper.Next(in.seqKey()))
	p.cl.Produce(in.dl.ctx, &in.rec, promise)
	s.Unlock()
	return nil
}

// Every record is handed to kgo with its delivery deadline's ctx (see
// deadline.go); never the caller's. kgo keeps records for a topic whose
// partitions are not known yet in one queue and fails the whole queue
// when the ctx given with its FIRST record ends: with the caller's ctx,
// one caller's 1 s deadline failed a concurrent caller's record published
// with no deadline at all. A caller's ctx bounds only that caller's wait
// (see encoder.publish). A delivery deadline that fails the queue fails
// records handed over after the first one early, as kgo's own timeout
// fails a batch by its first record's age. kgo never blocks on this ctx
// for buffer space: the producer's slots keep kgo below its own limit
// (kgoSlack).

// promise is kgo's callback for every record: it ends the record's span,
// records its metrics, reports the outcome to the record's done and
// recycles its buffer. The span ends before done runs, so a caller of
// Publish finds it ended. kgo runs promises one at a time on its own
// goroutine.
func promise(r *kgo.Record, err error) {
	in := r.Context.(*inflight)
	p := in.c.p
	if in.refused != nil {
		err = in.refused // the guard's reason, not kgo's "invalid partitioning choice"
	}
	res := Result{
		Topic:     r.Topic,
		Partition: r.Partition,
		Offset:    r.Offset,
		EventID:   in.idText,
		Seq:       in.seq,
	}
	if err != nil {
		res.Partition, res.Offset = -1, -1
		switch {
		case errors.Is(err, kgo.ErrClientClosed):
			err = fmt.Errorf("%w: %w", ErrClosed, err)
		case in.refused == nil && p.deadlines.timedOut(err, in.sealed):
			err = newTimeoutError(err)
		}
		// franz-go guesses "is SASL/TLS missing?" from any EOF on a
		// connection's first read; the guess misleads far more often
		// than it helps (a broker going away, a cancelled write).
		err = telemetry.Unhint(err)
	}
	p.finish(in, res.EventID, true, err)
	if err != nil {
		err = &PublishError{Topic: in.c.topic, Type: in.c.typ, Err: err}
	}
	done, size := in.done, in.size
	// Freed before the slot is given back: a publisher waiting for the
	// slot then finds the inflight in the pool instead of making another.
	in.free()
	p.slots.put(size)
	done(res, err)
	p.slots.finish()
}
