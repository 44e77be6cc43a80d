package consumer

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/ordo-go/ordo/internal/embedded"
	"github.com/ordo-go/ordo/schema"
)

// An embedded cluster in a process of its own, for the benchmarks that
// measure the consumer's heap: kfake keeps every record it is given in
// memory, so in the consumer's process a backlog's size would show in
// the heap whatever the consumer does.
//
// The test binary runs itself (os.Args[0]) with brokerProcessEnv set;
// its TestMain then runs serveBrokerProcess, which starts the cluster on
// 127.0.0.1, prints one line with its addresses and waits for its stdin
// to close. The parent holds the stdin pipe, so the child ends when the
// parent closes it in b.Cleanup, or dies: it never outlives the
// benchmark. Cleanup also kills it and waits for it, in case it hangs.

// brokerProcessEnv carries the child's topic's partition count.
const brokerProcessEnv = "ORDO_TEST_BROKER_PROCESS"

// brokerReady prefixes the child's one line of output: the JSON of
// brokerAddrs.
const brokerReady = "ordo-broker-ready "

type brokerAddrs struct {
	Brokers  []string `json:"brokers"`
	Registry string   `json:"registry"`
}

// serveBrokerProcess is the child's side, run by TestMain instead of the
// tests when brokerProcessEnv is set (so no test is there to be skipped
// in an ordinary run). It never returns.
func serveBrokerProcess(spec string) {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "broker process:", err)
		os.Exit(2)
	}
	partitions, err := strconv.Atoi(spec)
	if err != nil {
		fail(fmt.Errorf("%s=%q: %w", brokerProcessEnv, spec, err))
	}
	c, err := embedded.Start(embedded.Config{Brokers: 1, Topics: map[string]int32{"steps": int32(partitions)},
		Kfake: []kfake.Opt{kfake.BrokerConfigs(map[string]string{"group.consumer.heartbeat.interval.ms": "250"})}})
	if err != nil {
		fail(err)
	}
	line, err := json.Marshal(brokerAddrs{Brokers: c.Brokers(), Registry: c.RegistryURL()})
	if err != nil {
		fail(err)
	}
	fmt.Println(brokerReady + string(line))
	io.Copy(io.Discard, os.Stdin) // until the parent closes the pipe or dies
	os.Exit(0)
}

// startBrokerProcess starts the child and returns a fixture on it (topic
// "steps" with the given partitions, the Step schema registered)
// and the seed brokers. f.cluster and f.cl are nil: give consumers the
// brokers, and f.cl a client of them to produce.
func startBrokerProcess(b testing.TB, partitions int32) (*fixture, []string) {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.timeout=0")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", brokerProcessEnv, partitions))
	cmd.Stderr = os.Stderr // empty unless the child fails
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	// The reader sends the ready line, or everything the child wrote if
	// it ends first, then drains stdout until the child ends.
	ready := make(chan string, 1)
	failed := make(chan string, 1)
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		var out strings.Builder
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if line, ok := strings.CutPrefix(sc.Text(), brokerReady); ok {
				ready <- line
				io.Copy(io.Discard, stdout)
				return
			}
			out.WriteString(sc.Text() + "\n")
		}
		failed <- out.String()
	}()
	b.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		<-drained // before Wait, which closes stdout
		cmd.Wait()
	})
	var addrs brokerAddrs
	select {
	case line := <-ready:
		if err := json.Unmarshal([]byte(line), &addrs); err != nil {
			b.Fatalf("broker process: %q: %v", line, err)
		}
	case out := <-failed:
		b.Fatalf("broker process ended before it was ready:\n%s", out)
	case <-time.After(30 * time.Second):
		b.Fatal("broker process not ready after 30s")
	}
	return remoteFixture(b, addrs), addrs.Brokers
}

// remoteFixture is a fixture on a cluster it did not start.
func remoteFixture(b testing.TB, addrs brokerAddrs) *fixture {
	b.Helper()
	reg, err := schema.NewRegistry([]string{addrs.Registry})
	if err != nil {
		b.Fatal(err)
	}
	codec, err := schema.NewCodec[Step](stepSchema)
	if err != nil {
		b.Fatal(err)
	}
	const topic = "steps"
	id, err := reg.Register(context.Background(), topic+"-value", codec.Schema())
	if err != nil {
		b.Fatal(err)
	}
	return &fixture{t: b, topic: topic, reg: reg, codec: codec, id: id}
}
