package outagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/ordo-go/ordo/consumer"
	"github.com/ordo-go/ordo/internal/embedded"
	"github.com/ordo-go/ordo/internal/header"
	"github.com/ordo-go/ordo/schema"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The scenario's sizes: keys records a round, one per key; rounds of
// them while the dependency is down, one every roundEvery.
const (
	outage     = 5 * time.Minute
	keys       = 3000
	rounds     = 10
	roundEvery = outage / rounds
	partitions = 8
	topic      = "orders"
	dlt        = "orders-dlt"
)

// TestOutage5m is issue 21's five-minute dependency outage under the
// consumer's defaults, with a dead-letter topic: 3,000 keys handled, then
// the handler's database down for exactly 5 minutes while 30,000 more
// records arrive (a record per key every 30 s), then back. Nothing is
// dead-lettered (the topic stays empty), every key's 11 records are
// handled once each and in order, all of them after the database is
// back; while the breaker is open nothing is fetched and the heap stays
// within MaxBufferedBytes of where it was; the breaker says it opened
// and closed once each, its failed probes at most once a minute, and
// the log has no per-record storm (2 WARN lines: the opening, and the
// partitions stuck behind it). Under the old defaults (no breaker, 10
// attempts in about 17 s) all 30,000 records of the outage were
// dead-lettered (3,000 exhausted, the rest quarantined behind them) and
// none handled after the database came back. About 5 minutes: see the
// package doc for why it has a binary of its own.
func TestOutage5m(t *testing.T) {
	ctx := bound(t, 8*time.Minute+30*time.Second) // its hard bound a minute later, before go test's 10 minutes
	t.Parallel()
	s := newScene(t)
	wait := s.run(ctx)

	s.publishRound() // every key's first record, handled before the outage
	s.waitUntil(ctx, time.Minute, "the first round handled", func() bool { return s.rec.distinct() == keys })
	s.down.Store(true)
	downAt := time.Now()
	w := s.watchOutage(ctx, downAt)
	for i := range rounds { // the traffic goes on
		sleepUntil(ctx, downAt.Add(time.Duration(i)*roundEvery))
		s.publishRound()
	}
	sleepUntil(ctx, downAt.Add(outage))
	s.down.Store(false)
	upAt := time.Now()
	open := w.stop()
	total := keys * (rounds + 1)
	s.waitUntil(ctx, 3*time.Minute, "every record handled after the database came back", func() bool {
		return s.rec.distinct() == total
	})
	t.Logf("database down for %v, %d attempts failed meanwhile; every record handled %v after it came back",
		upAt.Sub(downAt).Round(time.Millisecond), s.fails.Load(), time.Since(upAt).Round(time.Millisecond))
	s.c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	s.check(ctx, total, open)
}

// scene is the scenario's cluster, consumer and handler.
type scene struct {
	t       *testing.T
	cluster *embedded.Cluster
	cl      *kgo.Client
	codec   *schema.Codec[Order]
	id      int
	seq     int64 // the round last published
	c       *consumer.Consumer
	logs    syncBuffer
	fetched fetchMeter
	rec     recorder
	down    atomic.Bool
	fails   atomic.Int64
}

// Order is the scenario's event: the seq-th change of an order.
type Order struct {
	Key string `avro:"key"`
	Seq int64  `avro:"seq"`
}

const orderSchema = `{"type":"record","name":"Order","namespace":"ordo.outage","fields":[
	{"name":"key","type":"string"},{"name":"seq","type":"long"}]}`

var errRefused = errors.New("dial tcp 10.0.0.7:5432: connect: connection refused")

func newScene(t *testing.T) *scene {
	cluster, err := embedded.Start(embedded.Config{Brokers: 1, Topics: map[string]int32{topic: partitions, dlt: partitions}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cluster.Close() })
	reg, err := schema.NewRegistry([]string{cluster.RegistryURL()})
	if err != nil {
		t.Fatal(err)
	}
	s := &scene{t: t, cluster: cluster, rec: recorder{seqs: make(map[string][]int64)}}
	if s.codec, err = schema.NewCodec[Order](orderSchema); err != nil {
		t.Fatal(err)
	}
	if s.id, err = reg.Register(context.Background(), topic+"-value", s.codec.Schema()); err != nil {
		t.Fatal(err)
	}
	if s.cl, err = kgo.NewClient(kgo.SeedBrokers(cluster.Brokers()...), kgo.DefaultProduceTopic(topic)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.cl.Close)
	// The defaults, but for the dead-letter topic and the test's hooks.
	s.c, err = consumer.New(consumer.Brokers(cluster.Brokers()...), consumer.Group("outage"), consumer.Topics(topic),
		consumer.Registry(reg), consumer.On(s.codec, s.handle), consumer.DeadLetterTopic(dlt),
		consumer.WithLogger(slog.New(slog.NewTextHandler(&s.logs, nil))), consumer.KgoOpts(kgo.WithHooks(&s.fetched)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// handle is the handler over the database: down, every order fails
// transiently, the same way.
func (s *scene) handle(_ context.Context, o Order, _ consumer.Meta) error {
	if s.down.Load() {
		s.fails.Add(1)
		return fmt.Errorf("update order %s/%d: %w", o.Key, o.Seq, errRefused)
	}
	s.rec.handled(o)
	return nil
}

// run runs the consumer and returns what waits for Run's result.
func (s *scene) run(ctx context.Context) func() error {
	done := make(chan error, 1)
	go func() { done <- s.c.Run(context.Background()) }()
	s.t.Cleanup(s.c.Close)
	return func() error {
		select {
		case err := <-done:
			return err
		case <-ctx.Done():
			return fmt.Errorf("Run did not return: %w", ctx.Err())
		}
	}
}

// publishRound writes every key's next record.
func (s *scene) publishRound() {
	s.seq++
	recs := make([]*kgo.Record, 0, keys)
	for k := range keys {
		o := Order{Key: fmt.Sprintf("order-%04d", k), Seq: s.seq}
		v, err := s.codec.AppendFramed(nil, s.id, &o)
		if err != nil {
			s.t.Fatal(err)
		}
		recs = append(recs, &kgo.Record{Key: []byte(o.Key), Value: v, Headers: []kgo.RecordHeader{
			{Key: header.Type, Value: []byte(s.codec.Name())},
			{Key: header.Seq, Value: []byte(strconv.FormatInt(o.Seq, 10))},
		}})
	}
	if err := s.cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		s.t.Fatal(err)
	}
}

// waitUntil polls cond until it holds, or fails the test after d (or at
// the test's bound) with the consumer's stats and its warnings.
func (s *scene) waitUntil(ctx context.Context, d time.Duration, what string, cond func() bool) {
	s.t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.t.Fatalf("timed out after %v waiting for %s: %d distinct records handled; stats %+v; log:\n%s",
				d, what, s.rec.distinct(), s.c.Stats(), lines(s.logs.String(), "level=WARN", "breaker"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// outageWatch samples the consumer while the database is down: when the
// breaker opened, what was fetched from fetchWait after until the
// database came back, and the heap's peak.
type outageWatch struct {
	s     *scene
	stopc chan struct{}
	done  chan openSample
}

// openSample is what outageWatch saw.
type openSample struct {
	openAfter          time.Duration // from the outage's start; 0: never open
	fetched, bytesRead int64         // records polled and bytes kgo read after the opening settled
	heapBase, heapPeak uint64
}

// fetchWait is longer than a fetch request may wait at the broker
// (kgo's FetchMaxWait, 5 s by default).
const fetchWait = 6 * time.Second

func (s *scene) watchOutage(ctx context.Context, downAt time.Time) *outageWatch {
	w := &outageWatch{s: s, stopc: make(chan struct{}), done: make(chan openSample, 1)}
	go func() {
		var o openSample
		o.heapBase = heapInuse()
		var fetched0, bytes0 int64
		var settled bool
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-w.stopc:
			case <-ctx.Done():
			case <-tick.C:
				err := s.c.Ready(0)
				open := err != nil && strings.Contains(err.Error(), "breaker open for")
				switch {
				case open && o.openAfter == 0:
					o.openAfter = time.Since(downAt)
				case open && !settled && time.Since(downAt) > o.openAfter+fetchWait:
					// A fetch sent before the pause has ended (its
					// records were dropped at the poll).
					settled, fetched0, bytes0 = true, s.c.Stats().Fetched, s.fetched.bytes.Load()
				}
				o.heapPeak = max(o.heapPeak, heapInuse())
				continue
			}
			if settled {
				o.fetched, o.bytesRead = s.c.Stats().Fetched-fetched0, s.fetched.bytes.Load()-bytes0
			}
			w.done <- o
			return
		}
	}()
	return w
}

func (w *outageWatch) stop() openSample {
	close(w.stopc)
	return <-w.done
}

// check asserts the outcome, once the consumer has stopped.
func (s *scene) check(ctx context.Context, total int, o openSample) {
	t := s.t
	st := s.c.Stats()
	out := s.logs.String()
	opened, closed := strings.Count(out, `msg="breaker open:`), strings.Count(out, `msg="breaker closed:`)
	probes, warns := strings.Count(out, "breaker probe failed"), strings.Count(out, "level=WARN")
	t.Logf("breaker opened %v into the outage; while open %d records polled, %d bytes read by kgo; heap %d MiB before, peak %d MiB",
		o.openAfter.Round(time.Millisecond), o.fetched, o.bytesRead, o.heapBase>>20, o.heapPeak>>20)
	t.Logf("stats %+v; log: %d WARN lines, breaker lines:\n%s", st, warns, lines(out, "breaker"))
	if st.DeadLettered != 0 || st.Failed != 0 || st.Skipped != 0 {
		t.Errorf("%d records dead-lettered, %d failed, %d skipped, want 0", st.DeadLettered, st.Failed, st.Skipped)
	}
	if n := s.dltRecords(ctx); n != 0 {
		t.Errorf("the dead-letter topic holds %d records, want 0", n)
	}
	if bad := s.rec.outOfOrder(rounds + 1); len(bad) > 0 || s.rec.distinct() != total {
		t.Errorf("%d distinct records handled (want %d); %d keys not handled once each in order, e.g. %v",
			s.rec.distinct(), total, len(bad), bad[:min(len(bad), 3)])
	}
	if o.openAfter == 0 || o.fetched != 0 || o.bytesRead != 0 {
		t.Errorf("breaker open after %v, and %d records polled, %d bytes read while it was: want it open and the fetch paused",
			o.openAfter, o.fetched, o.bytesRead)
	}
	if o.heapPeak > o.heapBase+consumer.DefaultMaxBufferedBytes {
		t.Errorf("the heap grew from %d to %d bytes during the outage, past MaxBufferedBytes (%d)",
			o.heapBase, o.heapPeak, consumer.DefaultMaxBufferedBytes)
	}
	// One line each way; failed probes at most once a minute (5 + 1);
	// other warnings: a few, not one per record or per partition.
	if opened != 1 || closed != 1 || probes > 6 || warns > 4 {
		t.Errorf("%d breaker open lines, %d closed, %d probe lines, %d WARN lines in all; want 1, 1, at most 6, at most 4:\n%s",
			opened, closed, probes, warns, lines(out, "level=WARN", "breaker"))
	}
}

// dltRecords counts the records in the dead-letter topic.
func (s *scene) dltRecords(ctx context.Context) int64 {
	ends, err := kadm.NewClient(s.cl).ListEndOffsets(ctx, dlt)
	if err != nil {
		s.t.Fatal(err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n
}

// recorder records the sequence each key's records were handled in.
type recorder struct {
	mu   sync.Mutex
	seqs map[string][]int64
	n    int
}

func (r *recorder) handled(o Order) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seqs[o.Key] = append(r.seqs[o.Key], o.Seq)
	r.n++
}

// distinct is how many records were handled (a record handled twice
// counts twice: outOfOrder finds it).
func (r *recorder) distinct() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// outOfOrder returns the keys whose records were not handled exactly
// once each, in sequence 1..n.
func (r *recorder) outOfOrder(n int) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var bad []string
	for k := range keys {
		key := fmt.Sprintf("order-%04d", k)
		seqs := r.seqs[key]
		ok := len(seqs) == n
		for i := 0; ok && i < n; i++ {
			ok = seqs[i] == int64(i+1)
		}
		if !ok {
			bad = append(bad, fmt.Sprintf("%s: %v", key, seqs))
		}
	}
	return bad
}

// fetchMeter counts the bytes kgo reads from fetch responses.
type fetchMeter struct{ bytes atomic.Int64 }

var _ kgo.HookFetchBatchRead = (*fetchMeter)(nil)

func (m *fetchMeter) OnFetchBatchRead(_ kgo.BrokerMetadata, _ string, _ int32, b kgo.FetchBatchMetrics) {
	m.bytes.Add(int64(b.UncompressedBytes))
}

func heapInuse() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// syncBuffer is a log sink the consumer's goroutines share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// lines returns out's lines that contain any of subs.
func lines(out string, subs ...string) string {
	var b strings.Builder
	for l := range strings.Lines(out) {
		for _, s := range subs {
			if strings.Contains(l, s) {
				b.WriteString(l)
				break
			}
		}
	}
	return b.String()
}

func sleepUntil(ctx context.Context, at time.Time) {
	select {
	case <-time.After(time.Until(at)):
	case <-ctx.Done():
	}
}

// bound makes the test unable to hang its package, as
// internal/kafkatest.Bound does for the integration tests (a module this
// one cannot import): the returned ctx ends after d, for the test's waits;
// if the test (its cleanups included) still runs a minute after that,
// every goroutine's stack is written to stderr under the test's name and
// the test binary exits with status 1.
func bound(t *testing.T, d time.Duration) context.Context {
	name, start := t.Name(), time.Now()
	timer := time.AfterFunc(d+time.Minute, func() {
		var b bytes.Buffer
		fmt.Fprintf(&b, "\n--- FAIL: %s: still running %v after it started at %s: a hang; every goroutine follows\n\n",
			name, d+time.Minute, start.Format(time.TimeOnly))
		_ = pprof.Lookup("goroutine").WriteTo(&b, 2)
		_, _ = os.Stderr.Write(b.Bytes())
		os.Exit(1)
	})
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(func() {
		cancel()
		timer.Stop()
	})
	return ctx
}
