//go:build integration && faults

package faults

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/consumer/dlq"
	"github.com/ordo-go/ordo/internal/faults/check"
	"github.com/ordo-go/ordo/internal/faults/journal"
	"github.com/ordo-go/ordo/internal/faults/tick"
	"github.com/ordo-go/ordo/internal/kafkatest"
	"github.com/ordo-go/ordo/schema"
)

// form is the size of a run: CI's short form or the long form by hand.
type form struct {
	name       string
	produceFor time.Duration
	rate       float64
	keys       int
	partitions int32
	// bound is the whole suite's (kafkatest.Bound): about twice
	// what the form takes on a quiet machine (the short form about 13
	// minutes), for a busy 2-core one. run.sh's -timeout leaves room for
	// Bound's grace.
	bound time.Duration
}

var (
	shortForm = form{name: "short", produceFor: 24 * time.Second, rate: 150, keys: 64, partitions: 6, bound: 25 * time.Minute}
	longForm  = form{name: "long", produceFor: 90 * time.Second, rate: 300, keys: 256, partitions: 12, bound: 80 * time.Minute}
)

// proc is one running worker process.
type proc struct {
	name string // incarnation
	cmd  *exec.Cmd
	done chan struct{}
	err  error // set before done closes
}

func startProc(t tb, name, logPath, bin string, args ...string) *proc {
	t.Helper()
	lf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(lf, "=== %s %s\n", name, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		lf.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		lf.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
	})
	return p
}

// exit returns how the process ended, or "running".
func (p *proc) exit() string {
	select {
	case <-p.done:
		return fmt.Sprint(p.err)
	default:
		return "running"
	}
}

// signal sends sig and waits up to timeout for the process to exit.
func (p *proc) signal(sig syscall.Signal, timeout time.Duration) error {
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("signal %s: %w", p.name, err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("%s did not exit %s after %v", p.name, timeout, sig)
	}
}

// run is one scenario's run: its topic, group, processes and journals.
type run struct {
	t       tb
	cluster *kafkatest.Cluster
	adm     *kadm.Client
	bins    bins
	form    form
	rng     *rand.Rand
	reg     string
	dir     string
	topic   string
	group   string
	dlt     string // dead-letter topic; "" for none

	faults   *journal.Writer
	producer *proc

	mu      sync.Mutex
	members []*proc // current incarnation per member slot
	incs    []int   // incarnations started per slot

	memberArgs []string // extra flags of every consumer incarnation
	memberBin  string   // the members' binary, if not bins.consumer
	pg         *lazyPG  // the suite's PostgreSQL, started when a scenario needs it

	tailAt  int64          // how far waitHandled has read consumer.jsonl
	handled map[string]int // handled lines per incarnation, as far as read
}

func newRun(ctx context.Context, t *testing.T, c *kafkatest.Cluster, b bins, f form, seed uint64, reg string) *run {
	t.Helper()
	h := fnv.New64a()
	h.Write([]byte(t.Name()))
	name := strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
	r := &run{
		t: tb{t}, cluster: c, adm: c.Admin(t), bins: b, form: f, reg: reg,
		rng:   rand.New(rand.NewPCG(seed, h.Sum64())),
		topic: fmt.Sprintf("faults-%s-%d", name, seed),
		group: fmt.Sprintf("faults-%s-%d", name, seed),

		handled: map[string]int{},
	}
	r.dir = keptDir(t, fmt.Sprintf("ordo-faults-%s-%d", name, seed))
	if _, err := r.adm.CreateTopic(ctx, f.partitions, 3, nil, r.topic); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	w, err := journal.Create(filepath.Join(r.dir, "faults.jsonl"), false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	r.faults = w
	return r
}

// between returns a random duration in [lo, hi) from the run's seeded
// generator.
func (r *run) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(r.rng.Int64N(int64(hi-lo)))
}

func (r *run) brokers() string { return strings.Join(r.cluster.Brokers(), ",") }

func (r *run) startProducer() {
	r.producer = startProc(r.t, "producer", filepath.Join(r.dir, "producer.log"), r.bins.producer,
		"-brokers", r.brokers(), "-registry", r.reg, "-topic", r.topic,
		"-journal", filepath.Join(r.dir, "producer.jsonl"),
		"-keys", fmt.Sprint(r.form.keys), "-rate", fmt.Sprint(r.form.rate),
		"-duration", r.form.produceFor.String(), "-seed", fmt.Sprint(r.rng.Uint64()))
}

// startMember starts a new incarnation in member slot i.
func (r *run) startMember(i int, extra ...string) {
	r.mu.Lock()
	for len(r.members) <= i {
		r.members = append(r.members, nil)
		r.incs = append(r.incs, 0)
	}
	r.incs[i]++
	inc := fmt.Sprintf("m%d.%d", i, r.incs[i])
	r.mu.Unlock()
	args := append([]string{"-brokers", r.brokers(), "-registry", r.reg, "-topic", r.topic,
		"-group", r.group, "-journal", filepath.Join(r.dir, "consumer.jsonl"), "-inc", inc}, extra...)
	p := startProc(r.t, inc, filepath.Join(r.dir, "consumer.log"), cmp.Or(r.memberBin, r.bins.consumer), args...)
	r.mu.Lock()
	r.members[i] = p
	r.mu.Unlock()
}

func (r *run) member(i int) *proc {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.members[i]
}

// kill SIGKILLs member i's incarnation and journals the fault with the
// group's committed offsets, read once its last commit could have landed.
func (r *run) kill(ctx context.Context, i int) {
	r.endMember(ctx, i, "kill", syscall.SIGKILL)
}

// stop stops member i's incarnation gracefully (SIGTERM) and journals it
// like a kill.
func (r *run) stop(ctx context.Context, i int) {
	r.endMember(ctx, i, "stop", syscall.SIGTERM)
}

func (r *run) endMember(ctx context.Context, i int, fault string, sig syscall.Signal) {
	p := r.member(i)
	at := time.Now()
	if err := p.signal(sig, time.Minute); err != nil {
		r.t.Fatalf("%v (exit: %v); consumer log:\n%s", err, p.exit(), r.tail("consumer.log"))
	}
	// A commit request sent just before the kill may still be applied.
	time.Sleep(500 * time.Millisecond)
	com := r.committed(ctx)
	r.journalFault(journal.Event{Kind: journal.Fault, Fault: fault, Target: p.name, Time: at.UnixNano(), Committed: com})
}

func (r *run) journalFault(e journal.Event) {
	if err := r.faults.Write(e); err != nil {
		r.t.Fatal(err)
	}
	r.t.Logf("fault: %s %s at %s", e.Fault, e.Target, time.Unix(0, e.Time).Format("15:04:05.000"))
}

// committed returns the group's committed offsets of the run's topic.
func (r *run) committed(ctx context.Context) map[int32]int64 {
	out := map[int32]int64{}
	r.retry("fetch committed offsets", func() error {
		offs, err := r.adm.FetchOffsets(ctx, r.group)
		if err == nil {
			err = offs.Error()
		}
		if err != nil {
			return err
		}
		clear(out)
		offs.Each(func(o kadm.OffsetResponse) {
			if o.Topic == r.topic {
				out[o.Partition] = o.At
			}
		})
		return nil
	})
	return out
}

// retry calls f until it succeeds, for up to a minute: a broker that was
// just killed or restarted may fail admin requests (EOF, not coordinator)
// for a while on a busy machine. It fails the test with the last error.
func (r *run) retry(what string, f func() error) {
	var err error
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		if err = f(); err == nil {
			return
		}
	}
	r.t.Fatalf("%s: %v", what, err)
}

// producing reports whether the producer is still publishing.
func (r *run) producing() bool {
	select {
	case <-r.producer.done:
		return false
	default:
		return true
	}
}

// finish settles the run (see settle) and checks it.
func (r *run) finish(ctx context.Context) *check.Report {
	r.t.Helper()
	r.settle(ctx)
	return r.check(ctx)
}

// settle waits for the producer to exit and the group to commit the end
// of every partition, and stops the members gracefully.
func (r *run) settle(ctx context.Context) {
	r.t.Helper()
	select {
	case <-r.producer.done:
	case <-time.After(r.form.produceFor + 3*time.Minute):
		r.t.Fatal("producer did not finish")
	}
	if r.producer.err != nil {
		r.t.Errorf("producer: %v\n%s", r.producer.err, r.tail("producer.log"))
	}
	r.waitCaughtUp(ctx)
	for i := range r.members {
		if p := r.member(i); p != nil {
			if err := p.signal(syscall.SIGTERM, time.Minute); err != nil {
				r.t.Errorf("%v (exit: %v); consumer log:\n%s", err, p.exit(), r.tail("consumer.log"))
			}
		}
	}
}

// catchUpWithin bounds the wait for the group to commit the end of every
// partition after the producer is done: a killed member's partitions wait
// for its session timeout, and a busy 2-core machine runs everything
// slower.
const catchUpWithin = 5 * time.Minute

// allExited returns a member's process if every member's current
// incarnation has exited (nothing is left to catch up), else nil.
func (r *run) allExited() *proc {
	var last *proc
	for i := range r.members {
		p := r.member(i)
		if p == nil {
			continue
		}
		select {
		case <-p.done:
			last = p
		default:
			return nil
		}
	}
	return last
}

func (r *run) waitCaughtUp(ctx context.Context) {
	deadline := time.Now().Add(catchUpWithin)
	for {
		ends, err := r.adm.ListEndOffsets(ctx, r.topic)
		com := r.committed(ctx)
		lag := int64(0)
		if err == nil {
			// A partition with nothing committed has no entry: lag from 0.
			ends.Each(func(o kadm.ListedOffset) { lag += o.Offset - max(com[o.Partition], 0) })
		}
		if err == nil && lag == 0 {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("group did not catch up in %v: lag %d (err %v)\n%s", catchUpWithin, lag, err, r.tail("consumer.log"))
		}
		if p := r.allExited(); p != nil {
			r.t.Fatalf("every member exited with lag %d left (last: %s, %v)\n%s", lag, p.name, p.exit(), r.tail("consumer.log"))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func (r *run) check(ctx context.Context) *check.Report {
	evs, err := journal.Read(filepath.Join(r.dir, "producer.jsonl"), filepath.Join(r.dir, "consumer.jsonl"), filepath.Join(r.dir, "faults.jsonl"))
	if err != nil {
		r.t.Fatal(err)
	}
	if r.dlt != "" {
		evs = append(evs, r.readDeadLetters(ctx)...)
	}
	return check.Check(evs, r.readTopic(ctx))
}

// withDeadLetters gives the run a dead-letter topic (one partition, so it
// has one leader to kill) that consumers get with -dlt.
func (r *run) withDeadLetters(ctx context.Context) {
	r.dlt = r.topic + ".dlt"
	if _, err := r.adm.CreateTopic(ctx, 1, 3, nil, r.dlt); err != nil {
		r.t.Fatalf("create dead-letter topic: %v", err)
	}
	r.memberArgs = append(r.memberArgs, "-dlt", r.dlt)
}

// readDeadLetters reads the dead-letter topic with a raw client and
// returns a Dead event per dead letter of the run's topic, in the topic's
// order: a record counts as dead-lettered only if it is there (the
// consumer's "dead-pending" lines are written before the write is
// acknowledged).
func (r *run) readDeadLetters(ctx context.Context) []journal.Event {
	var out []journal.Event
	r.readAll(ctx, r.dlt, func(rec *kgo.Record) {
		info, err := dlq.Parse(rec)
		if err != nil {
			r.t.Errorf("dead letter %d@%d: %v", rec.Partition, rec.Offset, err)
			return
		}
		if info.Topic != r.topic {
			r.t.Errorf("dead letter %d@%d from topic %q, want %q", rec.Partition, rec.Offset, info.Topic, r.topic)
			return
		}
		out = append(out, journal.Event{Kind: journal.Dead, Partition: info.Partition, Offset: info.Offset,
			Key: string(rec.Key), Time: rec.Timestamp.UnixNano(), Text: string(info.Reason)})
	})
	return out
}

// readTopic reads every record of the topic back with a raw client.
func (r *run) readTopic(ctx context.Context) []check.Record {
	codec, err := schema.NewCodec[tick.Tick](tick.Avsc)
	if err != nil {
		r.t.Fatal(err)
	}
	var out []check.Record
	r.readAll(ctx, r.topic, func(rec *kgo.Record) {
		var ev tick.Tick
		if _, body, err := schema.Unframe(rec.Value); err != nil {
			r.t.Errorf("p%d@%d: %v", rec.Partition, rec.Offset, err)
		} else if err := codec.Decode(body, &ev); err != nil {
			r.t.Errorf("p%d@%d: %v", rec.Partition, rec.Offset, err)
		}
		out = append(out, check.Record{Partition: rec.Partition, Offset: rec.Offset, Key: string(rec.Key), Seq: ev.Seq})
	})
	return out
}

// readAll calls fn for every record of topic, in each partition's order,
// read with a raw client with opts (kgo.FetchIsolationLevel, say). A
// transactional topic's control records (commit and abort markers) are
// read, to know when a partition's end is reached, but not passed to fn.
func (r *run) readAll(ctx context.Context, topic string, fn func(*kgo.Record), opts ...kgo.Opt) {
	var ends kadm.ListedOffsets
	r.retry("list end offsets", func() (err error) {
		ends, err = r.adm.ListEndOffsets(ctx, topic)
		if err == nil {
			err = ends.Error()
		}
		return err
	})
	// Read until every partition's next offset reaches its end offset
	// (offsets may have gaps, so counting records is not enough).
	left := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	cl := r.cluster.Client(r.t, append([]kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.KeepControlRecords()}, opts...)...)
	defer cl.Close()
	n := 0
	rctx, cancel := context.WithTimeout(ctx, 3*time.Minute) // a busy machine's read of the whole topic
	defer cancel()
	for len(left) > 0 {
		fs := cl.PollFetches(rctx)
		if err := rctx.Err(); err != nil {
			r.t.Fatalf("read %s: %d records, partitions not read to the end: %v: %v", topic, n, left, err)
		}
		fs.EachError(func(t string, p int32, err error) { r.t.Logf("read %s: %s/%d: %v", topic, t, p, err) })
		fs.EachRecord(func(rec *kgo.Record) {
			if !rec.Attrs.IsControl() {
				n++
				fn(rec)
			}
			if end, ok := left[rec.Partition]; ok && rec.Offset+1 >= end {
				delete(left, rec.Partition)
			}
		})
	}
}

func (r *run) tail(name string) string {
	b, _ := os.ReadFile(filepath.Join(r.dir, name))
	lines := strings.Split(string(b), "\n")
	return strings.Join(lines[max(0, len(lines)-40):], "\n")
}

// nodeOf returns the cluster node (0-based) with Kafka node ID id.
func nodeOf(id int32) int { return int(id) - 1 }

// leaderOf returns the node leading partition p of the run's topic.
func (r *run) leaderOf(ctx context.Context, p int32) int { return r.leaderOfTopic(ctx, r.topic, p) }

// leaderOfTopic returns the node leading partition p of topic.
func (r *run) leaderOfTopic(ctx context.Context, topic string, p int32) int {
	var md kadm.Metadata
	r.retry("metadata", func() (err error) {
		md, err = r.adm.Metadata(ctx, topic)
		return err
	})
	pd, ok := md.Topics[topic].Partitions[p]
	if !ok || pd.Leader < 0 {
		r.t.Fatalf("no leader for %s/%d", topic, p)
	}
	return nodeOf(pd.Leader)
}

// coordinatorOf returns the node coordinating the run's group.
func (r *run) coordinatorOf(ctx context.Context) int {
	node := -1
	r.retry("find coordinator", func() error {
		for _, c := range r.adm.FindGroupCoordinators(ctx, r.group) {
			if c.Err != nil {
				return c.Err
			}
			node = nodeOf(c.NodeID)
			return nil
		}
		return fmt.Errorf("no answer")
	})
	return node
}

// waitHandled waits until member i's current incarnation has journaled n
// handled records, so that a fault hits a consumer at work rather than one
// still joining. It gives up after timeout, logging it: a scenario may
// legitimately stall the group (a paused coordinator).
func (r *run) waitHandled(i, n int, timeout time.Duration) {
	inc := r.member(i).name
	deadline := time.Now().Add(timeout)
	for r.scanHandled()[inc] < n {
		if time.Now().After(deadline) {
			r.t.Logf("%s handled %d records in %v, want %d; going on", inc, r.handled[inc], timeout, n)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// scanHandled reads the consumer journal's lines written since the last
// call and returns the handled count per incarnation.
func (r *run) scanHandled() map[string]int {
	f, err := os.Open(filepath.Join(r.dir, "consumer.jsonl"))
	if err != nil {
		return r.handled // no consumer has written yet
	}
	defer f.Close()
	data, err := io.ReadAll(io.NewSectionReader(f, r.tailAt, 1<<40))
	if err != nil {
		r.t.Fatal(err)
	}
	end := bytes.LastIndexByte(data, '\n') + 1 // whole lines only
	for _, line := range bytes.Split(data[:end], []byte{'\n'}) {
		var e journal.Event
		if len(line) > 0 && json.Unmarshal(line, &e) == nil && e.Kind == journal.Handled {
			r.handled[e.Inc]++
		}
	}
	r.tailAt += int64(end)
	return r.handled
}

// keptDir makes a directory for a run's journals and logs that is removed
// when the test passes and kept, with its path logged, when it fails.
func keptDir(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(os.TempDir(), name)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("journals and worker logs kept in %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	return dir
}

// brokerDown takes node down with down (kill or stop), journals the fault,
// waits for d, and starts the node again (waiting until it serves).
func (r *run) brokerDown(ctx context.Context, node int, fault string, down func(context.Context, int) error, d time.Duration) {
	at := time.Now()
	if err := down(ctx, node); err != nil {
		r.t.Fatalf("%s node %d: %v", fault, node, err)
	}
	r.journalFault(journal.Event{Kind: journal.Fault, Fault: fault, Target: fmt.Sprintf("node-%d", node), Time: at.UnixNano()})
	time.Sleep(d)
	// Start waits as long as a busy machine's restart needs (bounded);
	// its error says when it is the cluster that failed (ErrCluster).
	if err := r.cluster.Start(ctx, node); err != nil {
		r.t.Fatalf("%s: restart node %d: %v", fault, node, err)
	}
}

// pause freezes node for d (docker pause), journals the fault, and
// unpauses it (waiting until it serves).
func (r *run) pause(ctx context.Context, node int, fault string, d time.Duration) {
	at := time.Now()
	if err := r.cluster.Pause(ctx, node); err != nil {
		r.t.Fatalf("%s node %d: %v", fault, node, err)
	}
	r.journalFault(journal.Event{Kind: journal.Fault, Fault: fault, Target: fmt.Sprintf("node-%d", node), Time: at.UnixNano()})
	time.Sleep(d)
	if err := r.cluster.Unpause(ctx, node); err != nil {
		r.t.Fatalf("%s: unpause node %d: %v", fault, node, err)
	}
}

// waitProgress waits until the members together have journaled n more
// handled records than when it was called, so that the next fault hits a
// group that recovered from the last one. It gives up after timeout,
// logging it.
func (r *run) waitProgress(n int, timeout time.Duration) {
	total := func() int {
		sum := 0
		for _, c := range r.scanHandled() {
			sum += c
		}
		return sum
	}
	want := total() + n
	deadline := time.Now().Add(timeout)
	for total() < want {
		if time.Now().After(deadline) {
			r.t.Logf("the group handled fewer than %d records in %v; going on", n, timeout)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}
