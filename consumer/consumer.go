package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/internal/quarantine"
	"github.com/ordo-go/ordo/internal/telemetry"
)

// Consumer consumes typed events as a member of a consumer group: records
// of one key one at a time in offset order, records of different keys in
// parallel on a bounded number of lanes, offsets committed only up to the
// lowest record not yet finished.
//
// Create one with [New], register handlers with [On], call [Consumer.Run],
// and stop it with [Consumer.Shutdown] (graceful) or [Consumer.Close]
// (immediate). A Consumer is safe for concurrent use.
type Consumer struct {
	cfg   config
	cl    *kgo.Client
	dl    deadLetterer // deadletter.go
	pipe  pipeline     // one record's way (pipeline.go)
	reb   rebalancer   // kgo's rebalance callbacks (rebalance.go)
	stuck stuckWatch   // stuck.go
	lagw  lagWatch     // lag.go
	probe connectWatch // connect.go
	log   *slog.Logger
	tel   telemetry.Config
	obs   observer  // spans and metrics (telemetry.go)
	look  firstLook // partition counts at the first assignment (start.go)

	// sched is the scheduler (scheduler.go): its lock guards the
	// partitions, the key queues, the ready set, the lanes' claims and
	// the buffer counts; it is the engine's one lock today.
	sched   scheduler
	checks  checks    // ordering checks (schedule.go)
	commits committer // commit.go
	gate    *replay   // dispatch gate (replay.go); nil gates nothing; its fields guarded by sched.mu
	brk     *circuit  // the breaker (breaker.go); nil when off

	stats counters

	running      atomic.Bool
	closeOnce    sync.Once
	closed       chan struct{}   // closed by Close
	runDone      chan struct{}   // closed when Run returns
	shutdown     atomic.Bool     // Shutdown bounds the stop with its ctx
	userClosed   atomic.Bool     // Close was called: Run returns nil
	stopErr      error           // what Shutdown returns: written by stop before runDone is closed
	stopCtx      context.Context // bounds the stop; ended by Shutdown's ctx
	endStop      context.CancelCauseFunc
	clientClosed chan struct{}      // closed when kgo's Close returns after Run
	topics       topicWatch         // consumed topics the cluster lacks (topics_check.go)
	logLimit     telemetry.LogLimit // per-record lines (retries, dead letters): a burst per condition, then counted
	clientCtx    context.Context    // the kgo client's (kgo.WithContext)
	killClient   context.CancelFunc // abandons every request of the client
	lanes        sync.WaitGroup     // Run's goroutines (engine.go lists them)
}

type tp struct {
	topic     string
	partition int32
}

// New returns a consumer configured by opts. It validates the options and
// returns an error wrapping [ErrInvalidConfig] if they are incomplete or
// inconsistent, reporting every problem found (errors.Join); it never
// panics, whatever the options. It does not contact the brokers.
func New(opts ...Option) (*Consumer, error) {
	cfg := defaults()
	for _, o := range opts {
		if o == nil {
			cfg.fail("nil Option")
			continue
		}
		o.apply(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	c := &Consumer{
		cfg:          cfg,
		closed:       make(chan struct{}),
		runDone:      make(chan struct{}),
		clientClosed: make(chan struct{}),
		log:          telemetry.Logger(cfg.set.Logger()).With("group", cfg.group),
		logLimit:     telemetry.LogLimit{Every: logLimitEvery, Burst: logLimitBurst},
		tel:          cfg.tel.Resolve(),
	}
	if err := c.obs.init(c.tel, cfg.group, &c.sched); err != nil {
		return nil, fmt.Errorf("consumer: telemetry: %w", err)
	}
	var err error
	if c.gate, err = newReplay(&cfg, c.log, c.tel.Meter()); err != nil {
		c.obs.ins.reg.Unregister()
		return nil, fmt.Errorf("consumer: telemetry: %w", err)
	}
	if c.brk, err = newCircuit(&cfg, c.log, c.tel.Meter(), &c.obs.ins.reg); err != nil {
		c.obs.ins.reg.Unregister()
		return nil, err
	}
	c.stopCtx, c.endStop = context.WithCancelCause(context.Background())
	c.clientCtx, c.killClient = context.WithCancel(context.Background())
	c.sched.init(cfg, &c.stats)
	c.sched.gate, c.sched.partRate, c.sched.brk = c.gate, cfg.partRate, c.brk
	if c.gate != nil {
		c.gate.sched, c.gate.stats = &c.sched, &c.stats
	}
	c.sched.quar = &quarantiner{stats: &c.stats, obs: &c.obs, log: c.log, group: cfg.group, maxBytes: cfg.quarantineBytes,
		storeCfg: storeConfig{topics: cfg.topics, base: quarantine.StoreConfig{Group: cfg.group, Topic: cfg.quarantineTopic,
			MaxKeys: cfg.quarantineMaxKeys, Opts: cfg.set.ClientOpts(c.log)}}}
	c.reb = rebalancer{sched: &c.sched, commits: &c.commits, gate: c.gate, quar: c.sched.quar, look: &c.look,
		obs: &c.obs, stats: &c.stats, log: c.log, topics: cfg.topics, drainTimeout: cfg.drainTimeout, quarantining: cfg.quarantining()}
	c.checks = checks{stats: &c.stats, obs: &c.obs, log: c.log, counts: make(map[string][]int)}
	c.sched.checks, c.sched.obs = &c.checks, &c.obs
	cl, sess, err := c.newClient() // txn.go
	if err != nil {
		c.obs.ins.reg.Unregister()
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	c.cl = cl
	c.checks.cl = cl
	if c.brk != nil {
		c.brk.fetch = fetchHold(&c.sched.fetch, cl, cfg.topics) // breaker.go: the open breaker pauses the fetch
	}
	c.stuck = stuckWatch{sched: &c.sched, after: cfg.stuckAfter, log: c.log, tel: c.tel,
		limit: telemetry.LogLimit{Every: stuckSummaryEvery, Burst: 1}}
	c.lagw = lagWatch{sched: &c.sched, adm: kadm.NewClient(cl), group: cfg.group}
	c.probe = connectWatch{cl: cl, sched: &c.sched, log: c.log, brokers: cfg.set.BrokerList(), after: cfg.unreachableAfter,
		session: groupSession{cl: cl, log: c.log, group: cfg.group, session: cfg.membership.groupSession(), topics: cfg.topics}}
	c.commits = committer{cl: cl, sched: &c.sched, log: c.log, every: cfg.commitEvery, quarantining: cfg.quarantining(), quar: c.sched.quar}
	if sess != nil {
		c.commits.txn = &txnCommitter{sess: sess, sched: &c.sched, log: c.log}
		if cfg.quarantining() {
			c.commits.txn.quar = c.sched.quar
		}
	}
	c.dl.cfg, c.dl.sched, c.dl.stats, c.dl.obs, c.dl.log, c.dl.logLimit = &c.cfg, &c.sched, &c.stats, &c.obs, c.log, &c.logLimit
	c.pipe = pipeline{cfg: &c.cfg, handlers: handlersOf(cfg.handlers), tombstone: tombstoneOf(cfg.tombstones),
		mw: chain(cfg.middleware), gate: c.gate, stats: &c.stats, obs: &c.obs, log: c.log, logLimit: &c.logLimit, deadLetter: c.dl.deadLetter, brk: c.brk}
	if cfg.dlqTopic != "" {
		if c.dl.cl, err = c.dl.newDeadLetterClient(); err != nil {
			cl.Close()
			c.obs.ins.reg.Unregister()
			return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
	}
	return c, nil
}

func (c *Consumer) kgoOpts() []kgo.Opt {
	opts := append(c.cfg.set.ClientOpts(c.log),
		kgo.WithContext(c.clientCtx), // cancelled only past the stop's bound (closeClient)
		kgo.ConsumerGroup(c.cfg.group),
		// A rebalance waits while polled records are being dispatched, so
		// a revoke never races a record that is between poll and queue.
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(withHook(c.reb.assigned, c.cfg.onAssigned)),
		kgo.OnPartitionsRevoked(withHook(c.reb.revoked, c.cfg.onRevoked)),
		kgo.OnPartitionsLost(withHook(c.reb.lost, c.cfg.onRevoked)),
	)
	if !c.cfg.membership.joinsLate() { // else Run adds them once the group's session is set (groupsession.go)
		opts = append(opts, kgo.ConsumeTopics(c.cfg.topics...))
	}
	opts = append(opts, c.cfg.membership.opts()...)
	if c.cfg.quarantining() {
		// Every commit must follow a flush of the quarantine store, so
		// the consumer commits itself (commit.go).
		opts = append(opts, kgo.DisableAutoCommit())
	} else {
		// Offsets are marked by the lanes as records finish and committed
		// from the marks only, never from what was merely polled.
		opts = append(opts, kgo.AutoCommitMarks(), kgo.AutoCommitInterval(c.cfg.commitEvery))
	}
	fetch := int32(c.cfg.maxBufferedBytes / 32)
	opts = append(opts, kgo.FetchMaxBytes(fetch), kgo.FetchMaxPartitionBytes(min(fetch, 1<<20)),
		kgo.MaxConcurrentFetches(4))
	opts = append(opts, c.startOpts()...) // start.go
	return append(opts, c.cfg.set.Raw()...)
}

// Run joins the group and consumes until the consumer is stopped. It blocks.
//
// Cancelling ctx stops the consumer gracefully: fetching stops, records in
// flight get up to the drain timeout (see [DrainTimeout]) to finish, their
// offsets are committed, and the consumer leaves the group (the commit and
// the leave get 10s more). Run then returns nil; or an error matching
// [ErrDrainTimeout] if handlers were still running at the drain deadline
// (they are cancelled and their offsets not committed), joined with the
// final commit's or the leave's failure, if any. [Consumer.Shutdown] does
// the same within its own ctx. After [Consumer.Close] Run returns nil.
// Under the [Halt] policy, a record that cannot be handled stops the
// consumer the same graceful way and Run returns its [*RecordError]. Run
// may be called once; later calls return [ErrRunning], or [ErrClosed]
// after Close.
func (c *Consumer) Run(ctx context.Context) error {
	select {
	case <-c.closed:
		return ErrClosed
	default:
	}
	if !c.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer close(c.runDone)

	// Run's ctx ending stops the consumer; any stop (Shutdown, Close, a
	// halt, a cluster that refuses it) ends the poll.
	pollCtx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	defer context.AfterFunc(c.sched.ending, stopPoll)()
	defer context.AfterFunc(ctx, c.sched.stop)()
	cancelWork := c.sched.startWork(ctx)
	defer cancelWork()

	for i := 0; i < c.cfg.concurrency; i++ {
		c.lanes.Add(1)
		go c.lane()
	}
	c.lanes.Add(1)
	go func() {
		defer c.lanes.Done()
		c.stuck.watch()
	}()
	c.lanes.Add(1)
	go func() {
		defer c.lanes.Done()
		c.commits.marker()
	}()
	c.lanes.Add(1)
	go func() {
		defer c.lanes.Done()
		c.probe.watchConnect()
	}()
	c.lanes.Add(1)
	go func() {
		defer c.lanes.Done()
		c.lagw.watch()
	}()
	c.lanes.Add(1)
	go c.watchTopics() // topics_check.go
	if c.dl.cl != nil && !c.cfg.dlqMayBeMissing {
		c.lanes.Add(1)
		go func() {
			defer c.lanes.Done()
			c.dl.checkDeadLetterTopic() // deadletter_check.go
		}()
	}
	if c.gate != nil {
		c.lanes.Add(1)
		go func() {
			defer c.lanes.Done()
			c.gate.replayWatch()
		}()
	}
	c.poll(pollCtx)
	return c.stop()
}

// Shutdown stops the consumer gracefully: it stops fetching, lets the
// records in flight finish, commits their offsets and leaves the group, all
// within ctx. Records fetched but not started are not handled; they are
// delivered again to whoever consumes the partition next.
//
// ctx bounds the whole of it, whatever the group is doing: if ctx ends
// while records are in flight, their handlers are cancelled, their offsets
// are not committed, and the error matches [ErrDrainTimeout]; if it ends
// during the final commit or while leaving the group (a group waiting for a
// dead member can hold a leave for its session timeout), Shutdown returns
// an error matching ctx's (context.DeadlineExceeded) and the client
// finishes closing in the background. This holds even when a broker's
// connection neither answers nor fails (a frozen host): the background
// close gets 10s more, then the client's requests are abandoned. A failed
// final commit is returned too. Only a handler that ignores its ctx can
// hold Shutdown past ctx.
//
// Shutdown waits for Run to return; if Run was never called it closes the
// consumer and returns nil. After [Consumer.Close] it returns [ErrClosed].
func (c *Consumer) Shutdown(ctx context.Context) error {
	select {
	case <-c.closed:
		return ErrClosed
	default:
	}
	if !c.running.Load() {
		c.Close()
		return nil
	}
	c.shutdown.Store(true)
	c.sched.stop()
	// ctx's end bounds the stop: the drain, the final commit, the leave.
	stopBound := context.AfterFunc(ctx, func() { c.endStop(context.Cause(ctx)) })
	defer stopBound()
	select {
	case <-c.runDone:
	case <-ctx.Done():
		c.sched.abort()
		<-c.runDone // prompt: handlers are cancelled and the stop is bounded
	}
	return c.stopErr // written before runDone was closed
}

// Close stops the consumer at once: handler contexts are cancelled, records
// in flight are abandoned (their offsets are not committed, so they are
// delivered again), finished offsets are committed (a failure is logged),
// and the consumer leaves the group. The final commit and the leave get
// 10s together, even when a broker's connection neither answers nor fails
// (a frozen host); then Close returns, the client goes on closing in the
// background for 10s more, and then its requests are abandoned. Close
// waits for running handlers to return. It is idempotent; afterwards Run returns [ErrClosed], and a Run
// that was running returns nil.
func (c *Consumer) Close() {
	c.closeOnce.Do(func() {
		close(c.closed)
		c.userClosed.Store(true)
		c.sched.abort()
		if !c.running.Load() {
			c.cl.Close()
			c.killClient()
			if c.dl.cl != nil {
				c.dl.cl.Close()
			}
			c.obs.ins.reg.Unregister()
			return
		}
	})
	if c.running.Load() {
		<-c.runDone
	}
}

// finalBudget bounds the final commit and the leave after Close, and after
// Run's ctx is cancelled (Shutdown's ctx bounds them otherwise).
const finalBudget = 10 * time.Second

// stop runs after polling ends: it waits for in-flight records (bounded),
// stops the lanes, commits what finished and leaves the group. It returns
// what Run returns, and records what Shutdown returns.
func (c *Consumer) stop() error {
	c.sched.stop()
	shutdown := c.shutdown.Load()
	drain := c.stopCtx
	if !shutdown {
		var cancel context.CancelFunc
		drain, cancel = context.WithTimeout(c.stopCtx, c.cfg.drainTimeout)
		defer cancel()
	}
	c.sched.waitIdle(drain, func() bool { return c.sched.inflight == 0 })
	missed := c.sched.missed()
	c.sched.endWork()
	c.lanes.Wait()

	fatal := c.sched.stopTimers()
	userClosed, shutdown := c.userClosed.Load(), c.shutdown.Load()

	fin := c.stopCtx
	if !shutdown {
		var cancel context.CancelFunc
		fin, cancel = context.WithTimeout(c.stopCtx, finalBudget)
		defer cancel()
	}
	var errs []error
	if missed {
		errs = append(errs, ErrDrainTimeout)
	}
	if c.dl.cl != nil {
		c.dl.cl.Close() // the lanes are done: no write is in flight
	}
	if err := c.commits.commitParts(fin, nil); err != nil {
		errs = append(errs, fmt.Errorf("final commit: %w", causeOf(fin, err)))
	}
	if err := c.closeClient(fin); err != nil {
		errs = append(errs, fmt.Errorf("leave group: %w", err))
	}
	if st := c.sched.quar.store(); st != nil {
		st.Close() // after the last commit: the final one, or the leave's revoke
	}
	c.obs.ins.reg.Unregister()
	var err error
	if len(errs) > 0 {
		err = fmt.Errorf("consumer: stop: %w", errors.Join(errs...))
	}
	c.stopErr = err
	c.endStop(nil)
	switch {
	case fatal != nil:
		return fatal
	case userClosed:
		if err != nil && !missed {
			c.log.Warn("stop after Close", "error", err)
		}
		return nil
	}
	return err
}

// causeOf returns ctx's cause for an error that ctx's end produced, so that
// a Shutdown deadline reads as context.DeadlineExceeded.
func causeOf(ctx context.Context, err error) error {
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		if cause := context.Cause(ctx); cause != nil {
			return cause
		}
	}
	return err
}

// closeClient leaves the group and closes the client, returning when that
// is done or ctx ends. kgo's Close waits for the leave, which a group in a
// rebalance (waiting for a dead member's session to expire) can hold for
// as long as that session lasts; if ctx ends first, the close goes on in
// the background and ctx's cause is returned.
//
// A connection that neither answers nor fails (a frozen broker host) would
// hold that close, and a final commit that outlived its bound, for ever:
// finalBudget after ctx ends the client's requests are abandoned (its
// context is cancelled), which ends both. clientClosed is closed when the
// client and every such call are done.
func (c *Consumer) closeClient(ctx context.Context) error {
	go func() {
		defer close(c.clientClosed)
		c.cl.Close()
		c.killClient()
		c.commits.calls.Wait()
	}()
	select {
	case <-c.clientClosed:
		return nil
	case <-ctx.Done():
		time.AfterFunc(finalBudget, c.killClient)
		return context.Cause(ctx)
	}
}
