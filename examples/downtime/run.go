package main

import (
	"context"
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/consumer"
	"github.com/ordo-go/ordo/consumer/consumertest"
	"github.com/ordo-go/ordo/producer"
	"github.com/ordo-go/ordo/schema"
)

// Order is the event the service publishes, keyed by its ID.
type Order struct {
	ID     string `avro:"id"`
	Amount int64  `avro:"amount"`
}

// PartitionKey keeps an order's events on one partition, in order.
func (o Order) PartitionKey() string { return o.ID }

const orderSchema = `{"type":"record","name":"Order","namespace":"ordo.examples.downtime","fields":[
	{"name":"id","type":"string"},{"name":"amount","type":"long"}]}`

// sample is the state of the story at one instant, for the progress line
// and the plot.
type sample struct {
	at        time.Duration
	published int64
	done      int64 // handled or expired
	handled   int64
	expired   int64
	moment    bool // taken at a moment of the story
}

// moments are the turns of the story, in time since the run's start,
// for the plot; zero is "did not happen".
type moments struct {
	down       time.Duration // the first consumer is shut down
	back       time.Duration // the consumer that catches up starts
	catchStart time.Duration // its first catch-up is seen
	catchEnd   time.Duration // its last catch-up is seen ended
	spans      []span        // other shaded intervals
}

// span is a labelled interval of the story the plot shades: the breaker
// open, say.
type span struct {
	from, to time.Duration // to 0: not ended, runs to the end of the run
	label    string
	color    color.Color
}

// story is one run's shared state.
type story struct {
	cfg       config
	start     time.Time
	published atomic.Int64
	handled   atomic.Int64
	mu        sync.Mutex
	samples   []sample
	moments   moments
	peakHeap  uint64
	replay    func() consumer.ReplayStats // the running consumer's, if any
	depDown   atomic.Bool                 // the fulfilment service is down (outage.go)
}

func run(ctx context.Context, cfg config, out io.Writer) error {
	where, cleanup, err := setup(ctx, &cfg)
	if err != nil {
		return err
	}
	defer cleanup()
	fmt.Fprintf(out, "ordo downtime example on %s\n", where)
	reg, err := schema.NewRegistry([]string{cfg.registry})
	if err != nil {
		return err
	}
	codec, err := schema.NewCodec[Order](orderSchema)
	if err != nil {
		return err
	}
	s := &story{cfg: cfg, start: time.Now()}
	sctx, stopSampling := context.WithCancel(ctx)
	sampled := make(chan struct{})
	go func() { defer close(sampled); s.sampleEvery(sctx, 250*time.Millisecond) }()
	pctx, stopPublishing := context.WithCancel(ctx)
	published := make(chan error, 1)
	go func() { published <- s.publish(pctx, reg, codec, out) }()
	fail := func(err error) error {
		stopPublishing()
		<-published
		stopSampling()
		<-sampled
		return err
	}

	fmt.Fprintf(out, "service publishes %.0f orders/s; consumer up\n", cfg.publish)
	if err := s.consume(ctx, reg, codec, out, false, cfg.up); err != nil {
		return fail(err)
	}
	s.mark(func(m *moments, now time.Duration) { m.down = now })
	fmt.Fprintf(out, "consumer down for %v: the backlog grows (orders older than %v will expire)\n", cfg.down, cfg.maxAge)
	if err := sleep(ctx, cfg.down); err != nil {
		return fail(err)
	}
	fmt.Fprintf(out, "consumer back: rate limit %.0f/s, slow start over %v, age window %v\n", cfg.limit, cfg.warmup, cfg.maxAge)
	stats, measured, err := s.catchUp(ctx, reg, codec, out, stopPublishing, published)
	stopSampling()
	<-sampled
	if err != nil {
		return err
	}
	return s.report(out, stats, measured)
}

// mark records a moment of the story, and a sample there.
func (s *story) mark(set func(m *moments, now time.Duration)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Since(s.start)
	set(&s.moments, now)
	s.sampleLocked(now, true)
}

// spanFrom marks the start of a labelled interval of the story, shaded
// in c on the plot (a translucent color: the data shows through), and
// returns the function that marks its end; an interval never ended runs
// to the end of the run.
func (s *story) spanFrom(label string, c color.Color) (end func()) {
	var i int
	s.mark(func(m *moments, now time.Duration) {
		i = len(m.spans)
		m.spans = append(m.spans, span{from: max(now, time.Nanosecond), label: label, color: c})
	})
	return func() { s.mark(func(m *moments, now time.Duration) { m.spans[i].to = now }) }
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// publish is the order service: it publishes orders at the configured
// rate until ctx ends, then waits for the last acknowledgements.
func (s *story) publish(ctx context.Context, reg *schema.Registry, codec *schema.Codec[Order], out io.Writer) error {
	p, err := producer.New(producer.Brokers(s.cfg.brokers...), producer.Registry(reg),
		producer.WithLogger(s.cfg.logger(out)), producer.Name(s.cfg.runID))
	if err != nil {
		return err
	}
	defer p.Close()
	pub, err := producer.NewPublisher(context.WithoutCancel(ctx), p, s.cfg.topic, codec)
	if err != nil {
		return err
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		failure error
	)
	done := func(_ producer.Result, err error) {
		defer wg.Done()
		if err != nil {
			mu.Lock()
			failure = errors.Join(failure, err)
			mu.Unlock()
			return
		}
		s.published.Add(1)
	}
	const tick = 10 * time.Millisecond
	t := time.NewTicker(tick)
	defer t.Stop()
	start, sent := time.Now(), 0
	for n := 0; ; {
		select {
		case <-ctx.Done():
			wg.Wait()
			return failure
		case now := <-t.C:
			due := int(s.cfg.publish * now.Sub(start).Seconds())
			for ; sent < due; sent++ {
				n++
				wg.Add(1)
				o := Order{ID: fmt.Sprintf("order-%05d", n%5000), Amount: int64(n)}
				if err := pub.PublishAsync(context.WithoutCancel(ctx), o, done); err != nil {
					wg.Done()
					wg.Wait()
					return err
				}
			}
		}
	}
}

// consumer makes the fulfilment consumer; back is the one that comes
// back after the downtime, with the replay bounds.
func (s *story) consumer(reg *schema.Registry, codec *schema.Codec[Order], out io.Writer, back bool) (*consumer.Consumer, error) {
	h := func(ctx context.Context, _ Order, _ consumer.Meta) error {
		// The fulfilment call: its latency bounds what one lane handles
		// (1/latency per second), so the slow start's ramp shows.
		if err := sleep(ctx, s.cfg.latency); err != nil {
			return err
		}
		if s.depDown.Load() {
			return errFulfilmentDown // transient: retried, and alike for every order (the breaker's case)
		}
		s.handled.Add(1)
		return nil
	}
	opts := []consumer.Option{
		consumer.Brokers(s.cfg.brokers...), consumer.Group("fulfilment-" + s.cfg.runID), consumer.Topics(s.cfg.topic),
		consumer.Registry(reg), consumer.On(codec, h), consumer.Concurrency(s.cfg.lanes),
		consumer.WithLogger(s.cfg.logger(out)), consumer.MaxAge(s.cfg.maxAge, consumer.ExpireSkip),
		consumer.CatchUpThreshold(int64(s.cfg.publish/10), 0), consumer.ProgressInterval(time.Second),
		// The story's outage lasts seconds: a 1 s window (30 s by default)
		// and quick probes let the breaker open and close within it.
		consumer.Breaker(consumer.BreakerConfig{Window: time.Second, ProbeMin: 250 * time.Millisecond, ProbeMax: time.Second}),
	}
	if back {
		opts = append(opts, consumer.RateLimit(s.cfg.limit, 0, consumer.DuringCatchUp), consumer.SlowStart(s.cfg.warmup))
	}
	return consumer.New(opts...)
}

// consume runs the first consumer for d and shuts it down.
func (s *story) consume(ctx context.Context, reg *schema.Registry, codec *schema.Codec[Order], out io.Writer, back bool, d time.Duration) error {
	c, err := s.consumer(reg, codec, out, back)
	if err != nil {
		return err
	}
	ran := make(chan error, 1)
	go func() { ran <- c.Run(ctx) }()
	if err := sleep(ctx, d); err != nil {
		c.Close()
		return err
	}
	if err := c.Shutdown(ctx); err != nil {
		return err
	}
	return <-ran
}

// catchUp brings the consumer back and shows its progress until the
// catch-up is over and the service's last orders are consumed. It returns
// the replay accounting and the busiest second's handling rate during the
// catch-up.
func (s *story) catchUp(ctx context.Context, reg *schema.Registry, codec *schema.Codec[Order], out io.Writer,
	stopPublishing func(), published <-chan error) (consumer.ReplayStats, float64, error) {
	c, err := s.consumer(reg, codec, out, true)
	if err != nil {
		return consumer.ReplayStats{}, 0, err
	}
	defer c.Close()
	s.mu.Lock()
	s.replay = c.ReplayStats
	s.mu.Unlock()
	ran := make(chan error, 1)
	s.mark(func(m *moments, now time.Duration) { m.back = now })
	go func() { ran <- c.Run(ctx) }()
	from := time.Since(s.start)
	p := newProgress(out)
	var st consumer.ReplayStats
	var to time.Duration // the last moment seen in catch-up: the cap held until then
	for started := false; ; {
		// Often: the moments are marked on the plot to this precision.
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return st, 0, err
		}
		now := time.Since(s.start)
		st = c.ReplayStats()
		if !started && st.CatchUps > 0 {
			started = true
			s.mark(func(m *moments, now time.Duration) { m.catchStart = now })
		}
		if started && st.Active == 0 {
			s.mark(func(m *moments, now time.Duration) { m.catchEnd = now })
			break
		}
		if st.Active > 0 {
			to = now
		}
		p.show(st, s.rateNow(), lagOf(c))
	}
	p.done(st)
	if err := s.outage(ctx, c, out); err != nil {
		return st, 0, err
	}
	// A little of the live flow after: the cap lifted, the lag gone.
	if err := sleep(ctx, s.cfg.after); err != nil {
		return st, 0, err
	}
	stopPublishing()
	if err := <-published; err != nil {
		return st, 0, err
	}
	all := s.published.Load()
	if err := s.waitDone(ctx, c, all); err != nil {
		return st, 0, err
	}
	st = c.ReplayStats()
	if err := c.Shutdown(ctx); err != nil {
		return st, 0, err
	}
	if err := <-ran; err != nil {
		return st, 0, err
	}
	return st, s.busiestSecond(from, to), nil
}

// waitDone waits until every published order is handled or expired.
func (s *story) waitDone(ctx context.Context, c *consumer.Consumer, all int64) error {
	deadline := time.Now().Add(time.Minute)
	for s.handled.Load()+c.ReplayStats().Expired < all {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d orders handled or expired after a minute", s.handled.Load()+c.ReplayStats().Expired, all)
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

// sampleEvery records the story's state every d until ctx ends.
func (s *story) sampleEvery(ctx context.Context, d time.Duration) {
	t := time.NewTicker(d)
	defer t.Stop()
	heap := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		metrics.Read(heap)
		s.mu.Lock()
		s.sampleLocked(time.Since(s.start), false)
		if heap[0].Value.Kind() == metrics.KindUint64 {
			s.peakHeap = max(s.peakHeap, heap[0].Value.Uint64())
		}
		s.mu.Unlock()
	}
}

// sampleLocked records the story's state at at; moment says it is a
// turn of the story (a rate window of the plot ends there).
func (s *story) sampleLocked(at time.Duration, moment bool) {
	var expired int64
	if s.replay != nil {
		expired = s.replay().Expired
	}
	h := s.handled.Load()
	s.samples = append(s.samples, sample{at: at, published: s.published.Load(), done: h + expired, handled: h, expired: expired, moment: moment})
}

// rateNow is the handling rate over the last second of samples.
func (s *story) rateNow() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.samples)
	if n < 5 {
		return 0
	}
	a, b := s.samples[n-5], s.samples[n-1]
	return float64(b.handled-a.handled) / (b.at - a.at).Seconds()
}

// busiestSecond is the highest handling rate over one second of samples
// between from and to.
func (s *story) busiestSecond(from, to time.Duration) float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	best := 0.0
	for i, a := range s.samples {
		for _, b := range s.samples[i+1:] {
			// Only windows inside the catch-up: the cap applies during
			// it (DuringCatchUp), and the backlog's tail flows free after.
			if a.at < from || b.at > to {
				continue
			}
			if b.at-a.at >= time.Second {
				best = max(best, float64(b.handled-a.handled)/(b.at-a.at).Seconds())
				break
			}
		}
	}
	return best
}

// report prints the summary and says whether it holds.
func (s *story) report(out io.Writer, st consumer.ReplayStats, measured float64) error {
	fmt.Fprintf(out, "backlog %d\n", st.Backlog)
	fmt.Fprintf(out, "handled %d\n", st.Handled)
	fmt.Fprintf(out, "expired %d\n", st.Expired)
	fmt.Fprintf(out, "dead-lettered %d\n", st.DeadLettered)
	fmt.Fprintf(out, "accounted %d of %d\n", st.Accounted(), st.Backlog)
	fmt.Fprintf(out, "rate limit %.0f/s\n", s.cfg.limit)
	fmt.Fprintf(out, "measured rate %.0f/s\n", measured)
	fmt.Fprintf(out, "peak heap %.1f MiB\n", float64(s.peakHeap)/(1<<20))
	if s.cfg.plot != "" {
		if err := s.drawPlot(s.cfg.plot); err != nil {
			return err
		}
		fmt.Fprintf(out, "plot written to %s\n", s.cfg.plot)
	}
	var errs []error
	if st.Backlog == 0 || st.Accounted() != st.Backlog {
		errs = append(errs, fmt.Errorf("accounted %d of a backlog of %d", st.Accounted(), st.Backlog))
	}
	if measured > s.cfg.limit*1.10 {
		errs = append(errs, fmt.Errorf("measured rate %.0f/s is more than 10%% over the limit %.0f/s", measured, s.cfg.limit))
	}
	return errors.Join(errs...)
}

// progress shows the catch-up's progress: one line rewritten in place on
// a terminal, a line a second otherwise.
type progress struct {
	out     io.Writer
	tty     bool
	last    time.Time
	backlog int64 // the backlog the last line showed: a growth is told
}

func newProgress(out io.Writer) *progress {
	tty := false
	if f, ok := out.(*os.File); ok {
		if fi, err := f.Stat(); err == nil {
			tty = fi.Mode()&os.ModeCharDevice != 0
		}
	}
	return &progress{out: out, tty: tty}
}

func (p *progress) show(st consumer.ReplayStats, handledRate float64, lag int64) {
	every := time.Second
	if p.tty {
		every = 250 * time.Millisecond
	}
	if st.Backlog == 0 || time.Since(p.last) < every {
		return
	}
	p.last = time.Now()
	line := progressLine(st, p.backlog, handledRate, lag)
	p.backlog = st.Backlog
	if p.tty {
		fmt.Fprintf(p.out, "\r%-100s", line)
		return
	}
	fmt.Fprintln(p.out, line)
}

// progressLine tells where the catch-up is: the share of the backlog
// accounted for (never 100% while a partition is still in catch-up),
// the handled rate apart from the expired count (expired records take no
// token, so only the handled rate is under the cap), the ETA of the
// backlog at the rate it is really shrinking (handled and expired), the
// consumer's lag once the backlog is done (the catch-up ends when it is
// under the threshold), and a growth of the backlog since the last line
// (a partition measured late).
func progressLine(st consumer.ReplayStats, shown int64, handledRate float64, lag int64) string {
	line := fmt.Sprintf("catching up: %5.1f%% of %d, %4.0f handled/s, %d expired", percentDone(st), st.Backlog, handledRate, st.Expired)
	switch {
	case st.Remaining == 0:
		line += fmt.Sprintf(", backlog done: lag %d, %d partitions still over the catch-up threshold", lag, st.Active)
	case st.Rate > 0:
		line += ", ETA " + time.Duration(float64(st.Remaining)/st.Rate*float64(time.Second)).Round(100*time.Millisecond).String()
	}
	if shown > 0 && st.Backlog > shown {
		line += fmt.Sprintf(" (backlog grew by %d: a partition entered catch-up)", st.Backlog-shown)
	}
	return line
}

// lagOf is the consumer's lag, over its partitions.
func lagOf(c *consumer.Consumer) int64 {
	var n int64
	for _, l := range c.Lag() {
		n += max(l.Records, 0)
	}
	return n
}

// percentDone is the share of the backlog accounted for, rounded down to
// a tenth; 99.9 at most while a catch-up is active.
func percentDone(st consumer.ReplayStats) float64 {
	pct := math.Floor(float64(st.Accounted())*1000/float64(st.Backlog)) / 10
	if st.Active > 0 {
		pct = min(pct, 99.9)
	}
	return pct
}

func (p *progress) done(st consumer.ReplayStats) {
	if p.tty {
		fmt.Fprint(p.out, "\r")
	}
	fmt.Fprintf(p.out, "%-100s\n", fmt.Sprintf("caught up: 100%% of %d, %d partitions: %d handled, %d expired", st.Backlog, st.CatchUps, st.Handled, st.Expired))
}

// setup starts the embedded cluster unless brokers are given, and makes
// the topic.
func setup(ctx context.Context, cfg *config) (string, func(), error) {
	cleanup := func() {}
	where := "Kafka at " + fmt.Sprint(cfg.brokers) + ", registry at " + cfg.registry
	if len(cfg.brokers) == 0 {
		if cfg.topic == "" {
			cfg.topic = "orders"
		}
		c, err := consumertest.New(consumertest.Brokers(1))
		if err != nil {
			return "", nil, err
		}
		cfg.brokers, cfg.registry = c.Brokers(), c.RegistryURL()
		cleanup = func() { c.Close() }
		where = "the embedded cluster (kfake) and registry (srfake)"
	} else if cfg.topic == "" {
		cfg.topic = fmt.Sprintf("downtime-%d-%s", time.Now().Unix(), cfg.runID)
	}
	tctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := ensureTopic(tctx, cfg.brokers, cfg.topic, cfg.partitions); err != nil {
		cleanup()
		return "", nil, err
	}
	return where, cleanup, nil
}

// ensureTopic creates the topic unless it exists and waits until every
// partition answers ListOffsets (a topic just created on a real broker is
// not ready at once).
func ensureTopic(ctx context.Context, brokers []string, topic string, partitions int) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, int32(partitions), -1, nil, topic); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("create topic %q: %w", topic, err)
	}
	for {
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err == nil {
			err = ends.Error()
		}
		if err == nil && len(ends[topic]) > 0 {
			return nil
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return fmt.Errorf("topic %q not ready: %w", topic, err)
		}
	}
}
