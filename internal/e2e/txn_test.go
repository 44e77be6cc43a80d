//go:build integration

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/consumer"
	"github.com/ordo-go/ordo/internal/header"
	"github.com/ordo-go/ordo/internal/kafkatest"
	"github.com/ordo-go/ordo/producer"
	"github.com/ordo-go/ordo/schema"
)

// The environment of a transactional member run as a child process by
// TestTxnExactlyOnceAcrossKillAndRebalance (TestTxnMemberProcess).
const (
	envMember   = "ORDO_E2E_TXN_MEMBER" // the transactional ID; unset outside the child
	envBrokers  = "ORDO_E2E_TXN_BROKERS"
	envRegistry = "ORDO_E2E_TXN_REGISTRY"
	envTopics   = "ORDO_E2E_TXN_TOPICS" // input,output,group
)

// TestTxnExactlyOnceAcrossKillAndRebalance: a transactional pipeline
// (each input step emits one derived step) runs as two members, one a
// child process that is killed with SIGKILL mid-stream and restarted
// under the same transactional ID, the other in this process, so the
// partitions move twice; a read_committed reader reads each input's
// output exactly once, in per-key order. The members' 6 s session
// timeout (the broker's least) bounds the rebalance that waits for the
// killed member.
func TestTxnExactlyOnceAcrossKillAndRebalance(t *testing.T) {
	ctx := kafkatest.Bound(t, 5*time.Minute)
	e := newEnv(ctx, t, kafkatest.StartBroker(ctx, t), 6, 1)
	url := kafkatest.RegistryURL(t) // one registry for this process and the child's
	reg, err := schema.NewRegistry([]string{url})
	if err != nil {
		t.Fatal(err)
	}
	e.reg = reg
	out := e.topic + "-out"
	if _, err := e.cluster.Admin(t).CreateTopic(ctx, 6, 1, nil, out); err != nil {
		t.Fatal(err)
	}
	codec := e.codec("Step")
	p := e.producer()
	pub, err := producer.NewPublisher(ctx, p, e.topic, codec)
	if err != nil {
		t.Fatal(err)
	}
	outPub, err := producer.NewPublisher(ctx, p, out, codec) // registers the output's schema
	if err != nil {
		t.Fatal(err)
	}
	const keys, perKey = 200, 20
	publishSteps(ctx, t, pub, keys, perKey, 0)
	rd := readSteps(ctx, t, e, out, codec)
	group := "txn-" + e.topic
	env := append(os.Environ(), envBrokers+"="+strings.Join(e.cluster.Brokers(), ","),
		envRegistry+"="+url, envTopics+"="+e.topic+","+out+","+group)

	child := startMember(t, env, "member-1")
	waitFor(t, 2*time.Minute, "the child's first outputs", func() bool { return rd.count() >= 200 })
	local := e.consumer(group, consumer.Transactional("member-2"), consumer.Concurrency(8), consumer.SessionTimeout(6*time.Second),
		consumer.On(codec, deriving(outPub)))
	stop := run(t, local)
	waitFor(t, 2*time.Minute, "outputs after the rebalance", func() bool { return rd.count() >= 1500 })
	if err := child.Process.Kill(); err != nil { // SIGKILL: no final transaction, no leave
		t.Fatal(err)
	}
	_ = child.Wait()
	killedAt := rd.count()
	if killedAt >= keys*perKey {
		t.Fatalf("every output was read before the kill: the kill tests nothing")
	}
	child = startMember(t, env, "member-1") // the restart fences the dead member's transaction
	waitFor(t, 90*time.Second, "every output", func() bool { return rd.count() >= keys*perKey })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	_ = child.Process.Kill()
	_ = child.Wait()
	time.Sleep(2 * time.Second) // a duplicate would be read in this while
	rd.check(t, keys, perKey)
	t.Logf("%d outputs read when the child was killed, %d in all, each once", killedAt, rd.count())
}

// deriving is the pipeline's handler: it emits the step it handles to
// the output topic, sealed by pub.
func deriving(pub *producer.Publisher[Step]) consumer.Handler[Step] {
	return func(ctx context.Context, s Step, _ consumer.Meta) error {
		time.Sleep(10 * time.Millisecond) // 800 records/s on 8 lanes: the kill lands mid-stream
		ev, err := pub.Seal(ctx, s)
		if err != nil {
			return err
		}
		return consumer.Emit(ctx, ev)
	}
}

// startMember runs TestTxnMemberProcess as a child process with the
// transactional ID id.
func startMember(t *testing.T, env []string, id string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestTxnMemberProcess$", "-test.timeout=5m")
	cmd.Env = append(env, envMember+"="+id)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

// TestTxnMemberProcess is the transactional member that
// TestTxnExactlyOnceAcrossKillAndRebalance runs as a child process and
// kills; run by itself (its environment unset) it has nothing to do and
// returns at once.
func TestTxnMemberProcess(t *testing.T) {
	id := os.Getenv(envMember)
	if id == "" {
		return
	}
	names := strings.Split(os.Getenv(envTopics), ",")
	reg, err := schema.NewRegistry([]string{os.Getenv(envRegistry)})
	if err != nil {
		t.Fatal(err)
	}
	codec, err := schema.NewCodec[Step](stepSchema("Step"))
	if err != nil {
		t.Fatal(err)
	}
	brokers := strings.Split(os.Getenv(envBrokers), ",")
	p, err := producer.New(producer.Brokers(brokers...), producer.Registry(reg))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pub, err := producer.NewPublisher(ctx, p, names[1], codec)
	if err != nil {
		t.Fatal(err)
	}
	c, err := consumer.New(consumer.Brokers(brokers...), consumer.Group(names[2]), consumer.Topics(names[0]),
		consumer.Registry(reg), consumer.CommitInterval(200*time.Millisecond), consumer.Transactional(id), consumer.SessionTimeout(6*time.Second),
		consumer.Concurrency(8), consumer.On(codec, deriving(pub)))
	if err != nil {
		t.Fatal(err)
	}
	t.Fatal(c.Run(ctx)) // until killed
}

// stepReader reads a topic's steps read_committed from its start.
type stepReader struct {
	mu   sync.Mutex
	seqs map[string][]int64
	ids  map[string]int
	n    int
}

func readSteps(ctx context.Context, t *testing.T, e *env, topic string, codec *schema.Codec[Step]) *stepReader {
	t.Helper()
	cl := e.cluster.Client(t, kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	rd := &stepReader{seqs: map[string][]int64{}, ids: map[string]int{}}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for rctx.Err() == nil {
			cl.PollFetches(rctx).EachRecord(func(r *kgo.Record) {
				var s Step
				if err := codec.Decode(r.Value[5:], &s); err != nil {
					t.Errorf("decode: %v", err)
					return
				}
				id, _ := header.Get(r.Headers, header.ID)
				rd.mu.Lock()
				rd.seqs[s.Key] = append(rd.seqs[s.Key], s.Seq)
				rd.ids[id]++
				rd.n++
				rd.mu.Unlock()
			})
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return rd
}

func (rd *stepReader) count() int {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	return rd.n
}

// check fails unless every key's outputs are 1..perKey, once each, in order.
func (rd *stepReader) check(t *testing.T, keys, perKey int) {
	t.Helper()
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if len(rd.seqs) != keys {
		t.Fatalf("outputs of %d keys, want %d", len(rd.seqs), keys)
	}
	for k, seqs := range rd.seqs {
		want := fmt.Sprint(seqRange(perKey))
		if got := fmt.Sprint(seqs); got != want {
			t.Fatalf("key %s: outputs %s, want %s (each once, in order)", k, got, want)
		}
	}
	for id, n := range rd.ids {
		if n != 1 {
			t.Fatalf("event %s read %d times", id, n)
		}
	}
}

func seqRange(n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = int64(i + 1)
	}
	return out
}
