package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// DefaultImage is the broker image used when ORDO_KAFKA_IMAGE is unset: the
// one .ci/kafka-image/build.sh builds without network access.
const DefaultImage = "ordo/kafka:4"

// ImageEnv names the environment variable that overrides [DefaultImage].
const ImageEnv = "ORDO_KAFKA_IMAGE"

// label marks every container the harness starts, so a script can remove
// what a killed test binary left behind:
// docker rm -f $(docker ps -aq --filter label=ordo.kafkatest).
const label = "ordo.kafkatest"

const (
	// startTimeout bounds how long a node or a whole cluster may take to
	// serve metadata. Three JVMs on two busy cores need tens of seconds,
	// and a killed node's restart recovers its logs first: on a fresh,
	// busy 2-core CI machine 3 minutes were not always enough.
	startTimeout = 6 * time.Minute
	stopTimeout  = 20 * time.Second
	clusterID    = "b3Jkby1rYWZrYXRlc3QtMQ"
)

// ErrCluster is matched by the errors of [Cluster]'s methods, and named in
// the failures of [StartCluster], when the cluster itself failed: a node
// did not start, stop or serve again in time. A test's failure message
// then says that it was the cluster, not the code under test.
var ErrCluster = errors.New("kafkatest: the Kafka cluster failed, not the code under test")

// Cluster is a set of Kafka nodes running in Docker for one test. Each node
// is a combined broker and KRaft controller. Nodes are numbered from 0 in
// the order of [Cluster.Brokers]; node i has Kafka node ID i+1.
//
// The methods are safe for concurrent use.
type Cluster struct {
	t      testing.TB
	image  string
	docker *testcontainers.DockerClient
	nodes  []*node
	sec    *security // the secure listener; nil: plaintext only

	mu sync.Mutex // serializes lifecycle changes of nodes
}

type node struct {
	id         int
	broker     string // 127.0.0.1:port, advertised and bound
	controller int
	ctr        *testcontainers.DockerContainer
	down       bool // stopped or paused; guarded by Cluster.mu
}

// StartBroker starts a single-node cluster (broker and controller in one
// process; replication factor 1) and waits until it serves metadata. It
// fails the test if Docker or the image is unavailable or the broker does
// not come up within a few minutes; ctx bounds the start.
func StartBroker(ctx context.Context, t testing.TB) *Cluster {
	t.Helper()
	return StartCluster(ctx, t, 1)
}

// StartCluster starts a KRaft cluster of nodes nodes, every node a voter
// and a broker, and waits until each broker serves metadata that lists all
// of them. Topics default to replication factor min(nodes, 3); with three
// or more nodes min.insync.replicas is 2, so acks=all survives one node
// down. Internal topics are configured to match. It fails the test if
// nodes is not in 1..5, if Docker or the image is unavailable, or if the
// cluster does not come up; ctx bounds the start. Cleanup removes the
// containers when the test ends.
func StartCluster(ctx context.Context, t testing.TB, nodes int) *Cluster {
	t.Helper()
	return startCluster(ctx, t, nodes, nil)
}

func startCluster(ctx context.Context, t testing.TB, nodes int, sec *security) *Cluster {
	t.Helper()
	if nodes < 1 || nodes > 5 {
		t.Fatalf("kafkatest: StartCluster: nodes = %d, want 1..5", nodes)
	}
	if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
		// Set before testcontainers reads its configuration (once per
		// process): the reaper image may not be pullable here, and t.Cleanup
		// removes our containers anyway.
		os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	}
	c := &Cluster{t: t, image: Image(), sec: sec}
	c.docker = dockerClient(ctx, t)
	ports, err := freePorts(2 * nodes)
	if err != nil {
		t.Fatalf("kafkatest: %v", err)
	}
	for i := range nodes {
		c.nodes = append(c.nodes, &node{
			id:         i + 1,
			broker:     "127.0.0.1:" + strconv.Itoa(ports[2*i]),
			controller: ports[2*i+1],
		})
	}
	// Cleanups run last-in first-out: logs are dumped before removal.
	t.Cleanup(c.terminate)
	t.Cleanup(c.dumpLogsIfFailed)

	// All nodes must be running before any can finish starting: a broker
	// waits for a controller quorum. So start every container, then wait.
	for _, n := range c.nodes {
		if err := c.run(ctx, n, nodes); err != nil {
			t.Fatalf("%v: start node %d from image %s: %v", ErrCluster, n.id, c.image, err)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	for i := range c.nodes {
		if err := c.waitServing(wctx, i); err != nil {
			t.Fatalf("%d-node cluster did not come up: %v", nodes, err)
		}
	}
	t.Logf("kafkatest: %d-node Kafka cluster from %s at %s", nodes, c.image, strings.Join(c.Brokers(), ","))
	if sec != nil {
		t.Logf("kafkatest: %s", sec.describe())
	}
	return c
}

// Image returns the broker image the harness runs: $ORDO_KAFKA_IMAGE, or
// [DefaultImage].
func Image() string {
	if img := os.Getenv(ImageEnv); img != "" {
		return img
	}
	return DefaultImage
}

func dockerClient(ctx context.Context, t testing.TB) *testcontainers.DockerClient {
	t.Helper()
	const hint = "Docker must be running for integration tests (bash .ci/docker.sh starts it here)"
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		t.Fatalf("kafkatest: no Docker client: %v; %s", err, hint)
	}
	t.Cleanup(func() { cli.Close() })
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(pctx, client.PingOptions{}); err != nil {
		t.Fatalf("kafkatest: Docker does not answer: %v; %s", err, hint)
	}
	return cli
}

func (c *Cluster) run(ctx context.Context, n *node, nodes int) error {
	ctr, err := testcontainers.Run(ctx, c.image,
		testcontainers.WithEnv(c.env(n, nodes)),
		testcontainers.WithLabels(map[string]string{label: c.t.Name()}),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			hc.NetworkMode = "host"
		}),
		// Host networking only. Where dockerd has no default bridge,
		// testcontainers attaches its own bridge network; drop it.
		testcontainers.WithEndpointSettingsModifier(func(m map[string]*network.EndpointSettings) {
			clear(m)
		}),
	)
	if ctr != nil {
		n.ctr = ctr // set even on error, so cleanup removes it
	}
	return err
}

// env is the broker configuration, in the KAFKA_* variables both the
// official apache/kafka image and ours understand.
func (c *Cluster) env(n *node, nodes int) map[string]string {
	voters := make([]string, len(c.nodes))
	for i, m := range c.nodes {
		voters[i] = fmt.Sprintf("%d@127.0.0.1:%d", m.id, m.controller)
	}
	rf := min(nodes, 3)
	minISR := 1
	if nodes >= 3 {
		minISR = 2
	}
	// GROUP_CONSUMER_MIN_SESSION_TIMEOUT_MS: Kafka's 45 s floor on a KIP-848
	// group's session timeout would refuse consumer.SessionTimeout below
	// it. It is a static broker setting: a user's brokers need the same
	// line for a fast recovery under KIP-848 (see consumer.SessionTimeout).
	m := map[string]string{
		"CLUSTER_ID":                                             clusterID,
		"KAFKA_NODE_ID":                                          strconv.Itoa(n.id),
		"KAFKA_PROCESS_ROLES":                                    "broker,controller",
		"KAFKA_LISTENERS":                                        fmt.Sprintf("PLAINTEXT://%s,CONTROLLER://127.0.0.1:%d", n.broker, n.controller),
		"KAFKA_ADVERTISED_LISTENERS":                             "PLAINTEXT://" + n.broker,
		"KAFKA_CONTROLLER_LISTENER_NAMES":                        "CONTROLLER",
		"KAFKA_LISTENER_SECURITY_PROTOCOL_MAP":                   "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
		"KAFKA_INTER_BROKER_LISTENER_NAME":                       "PLAINTEXT",
		"KAFKA_CONTROLLER_QUORUM_VOTERS":                         strings.Join(voters, ","),
		"KAFKA_LOG_DIRS":                                         "/tmp/kraft-combined-logs",
		"KAFKA_DEFAULT_REPLICATION_FACTOR":                       strconv.Itoa(rf),
		"KAFKA_MIN_INSYNC_REPLICAS":                              strconv.Itoa(minISR),
		"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR":                 strconv.Itoa(rf),
		"KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR":         strconv.Itoa(rf),
		"KAFKA_TRANSACTION_STATE_LOG_MIN_ISR":                    strconv.Itoa(minISR),
		"KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": strconv.Itoa(rf),
		"KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR":            strconv.Itoa(minISR),
		"KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS":                 "0",
		"KAFKA_GROUP_CONSUMER_MIN_SESSION_TIMEOUT_MS":            "6000",
		"KAFKA_HEAP_OPTS":                                        "-Xmx384m -Xms64m",
	}
	if c.sec != nil {
		c.sec.env(m, n)
	}
	return m
}

// Brokers returns the bootstrap addresses of the nodes, "127.0.0.1:port",
// in node order. The slice is a copy.
func (c *Cluster) Brokers() []string {
	out := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.broker
	}
	return out
}

// Nodes returns the number of nodes in the cluster.
func (c *Cluster) Nodes() int { return len(c.nodes) }

// Client returns a kgo client seeded with every broker, with opts appended
// (they may override the seeds). It is closed when the test ends; closing
// it earlier is fine. It fails the test if the options are invalid.
func (c *Cluster) Client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.Brokers()...)}, opts...)...)
	if err != nil {
		t.Fatalf("kafkatest: new client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// Admin returns an admin client for the cluster, closed when the test ends.
func (c *Cluster) Admin(t testing.TB) *kadm.Client {
	t.Helper()
	return kadm.NewClient(c.Client(t))
}
