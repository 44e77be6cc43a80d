package kafkatest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Stop stops node gracefully (SIGTERM, then SIGKILL after 20 s), as an
// operator's restart would; the node keeps its log for [Cluster.Start]. It
// blocks until the container has exited or ctx is done.
func (c *Cluster) Stop(ctx context.Context, node int) error {
	return c.stop(ctx, node, stopTimeout)
}

// Kill stops node at once (SIGKILL), as a process crash would: no
// controlled shutdown. It is not a power loss: what the broker wrote is
// still in the kernel's page cache. Start it again with [Cluster.Start]. It blocks until the container has exited
// or ctx is done.
func (c *Cluster) Kill(ctx context.Context, node int) error {
	return c.stop(ctx, node, 0)
}

func (c *Cluster) stop(ctx context.Context, node int, timeout time.Duration) error {
	n, err := c.node(node)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n.down = true
	if err := n.ctr.Stop(ctx, &timeout); err != nil {
		return fmt.Errorf("%w: stop node %d: %w", ErrCluster, node, err)
	}
	return nil
}

// Start starts a node stopped by [Cluster.Stop] and waits until the node
// serves metadata that lists itself and every other node not stopped or
// paused. It blocks until then, ctx is done, or 6 minutes have passed
// (a busy machine's restart); its errors match [ErrCluster].
func (c *Cluster) Start(ctx context.Context, node int) error {
	n, err := c.node(node)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := n.ctr.Start(ctx); err != nil {
		return fmt.Errorf("%w: start node %d: %w", ErrCluster, node, err)
	}
	n.down = false
	wctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	return c.waitServing(wctx, node)
}

// Pause freezes every process of node (docker pause): its connections stay
// open but nothing answers, as with a long GC pause or a network partition.
// The controllers fence it after the broker session timeout.
func (c *Cluster) Pause(ctx context.Context, node int) error {
	n, err := c.node(node)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.docker.ContainerPause(ctx, n.ctr.GetContainerID(), client.ContainerPauseOptions{}); err != nil {
		return fmt.Errorf("%w: pause node %d: %w", ErrCluster, node, err)
	}
	n.down = true
	return nil
}

// Unpause resumes a node frozen by [Cluster.Pause] and waits as
// [Cluster.Start] does.
func (c *Cluster) Unpause(ctx context.Context, node int) error {
	n, err := c.node(node)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.docker.ContainerUnpause(ctx, n.ctr.GetContainerID(), client.ContainerUnpauseOptions{}); err != nil {
		return fmt.Errorf("%w: unpause node %d: %w", ErrCluster, node, err)
	}
	n.down = false
	wctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	return c.waitServing(wctx, node)
}

func (c *Cluster) node(i int) (*node, error) {
	if i < 0 || i >= len(c.nodes) {
		return nil, fmt.Errorf("kafkatest: node %d out of range [0,%d)", i, len(c.nodes))
	}
	return c.nodes[i], nil
}

// waitServing (its errors match [ErrCluster]) polls node i directly (not any broker the client may have
// learned about) until its metadata lists the node itself and at least as
// many brokers as there are nodes not down: the node is up, registered with
// the controllers and unfenced, and so are the others. The caller holds
// c.mu or owns c exclusively.
func (c *Cluster) waitServing(ctx context.Context, i int) error {
	n := c.nodes[i]
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.broker), kgo.DialTimeout(2*time.Second))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCluster, err)
	}
	defer cl.Close()
	start := time.Now()
	var last error
	for {
		last = c.probe(ctx, cl, int32(n.id))
		if last == nil {
			if took := time.Since(start); took > 30*time.Second {
				c.t.Logf("kafkatest: node %d (%s) took %v to serve", i, n.broker, took.Round(time.Second))
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: node %d (%s) not serving after %v: %w (last: %v)",
				ErrCluster, i, n.broker, time.Since(start).Round(time.Second), ctx.Err(), last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (c *Cluster) probe(ctx context.Context, cl *kgo.Client, id int32) error {
	seeds := cl.SeedBrokers()
	if len(seeds) != 1 {
		return fmt.Errorf("%d seed brokers, want 1", len(seeds))
	}
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	resp, err := seeds[0].Request(rctx, kmsg.NewPtrMetadataRequest())
	if err != nil {
		return err
	}
	md := resp.(*kmsg.MetadataResponse)
	up := 0
	for _, n := range c.nodes {
		if !n.down {
			up++
		}
	}
	self := false
	for _, b := range md.Brokers {
		self = self || b.NodeID == id
	}
	if !self || len(md.Brokers) < up {
		return fmt.Errorf("metadata lists %d brokers (self: %t), want %d including self", len(md.Brokers), self, up)
	}
	if md.ControllerID < 0 {
		return errors.New("no active controller")
	}
	return nil
}

func (c *Cluster) terminate() {
	for _, n := range c.nodes {
		if n.ctr == nil {
			continue
		}
		// Unpause first: a frozen container does not stop in time.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if st, err := n.ctr.State(ctx); err == nil && st.Paused {
			c.docker.ContainerUnpause(ctx, n.ctr.GetContainerID(), client.ContainerUnpauseOptions{})
		}
		err := testcontainers.TerminateContainer(n.ctr, testcontainers.StopContext(ctx), testcontainers.StopTimeout(time.Second))
		cancel()
		if err != nil {
			c.t.Errorf("kafkatest: remove node %d: %v", n.id-1, err)
		}
	}
}

// logTail is how many lines of each node's log a failed test prints; the
// whole log goes to a file.
const logTail = 40

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

func (c *Cluster) dumpLogsIfFailed() {
	if !c.t.Failed() {
		return
	}
	for i, n := range c.nodes {
		if n.ctr == nil {
			continue
		}
		name := fmt.Sprintf("ordo-kafkatest-%s-node%d.log", unsafeName.ReplaceAllString(c.t.Name(), "_"), i)
		path := filepath.Join(os.TempDir(), name)
		tail, err := c.saveLog(n, path)
		if err != nil {
			c.t.Logf("kafkatest: node %d log: %v", i, err)
			continue
		}
		c.t.Logf("kafkatest: node %d (%s) log in %s; last lines:\n%s", i, n.broker, path, tail)
	}
}

func (c *Cluster) saveLog(n *node, path string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rc, err := n.ctr.Logs(ctx)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(io.TeeReader(rc, f))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > 2*logTail {
			lines = append(lines[:0], lines[len(lines)-logTail:]...)
		}
	}
	if len(lines) > logTail {
		lines = lines[len(lines)-logTail:]
	}
	return strings.Join(lines, "\n"), sc.Err()
}
