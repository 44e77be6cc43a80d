//go:build integration

package e2e

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/consumer"
	"github.com/ordo-go/ordo/internal/kafkatest"
	"github.com/ordo-go/ordo/producer"
)

// freezer makes a kgo client go silent, as a process that is frozen or
// killed does: while frozen its connections neither read nor write and it
// dials nothing, so it sends no heartbeat and never leaves its group.
type freezer struct {
	mu     sync.Mutex
	frozen bool
	thaw   chan struct{}
}

func newFreezer() *freezer { return &freezer{thaw: make(chan struct{})} }

func (f *freezer) freeze() { f.mu.Lock(); f.frozen = true; f.mu.Unlock() }

func (f *freezer) unfreeze() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.frozen {
		f.frozen = false
		close(f.thaw)
		f.thaw = make(chan struct{})
	}
}

// wait blocks while frozen; it reports whether the client was frozen.
func (f *freezer) wait(ctx context.Context) bool {
	f.mu.Lock()
	frozen, thaw := f.frozen, f.thaw
	f.mu.Unlock()
	if !frozen {
		return false
	}
	select {
	case <-thaw:
	case <-ctx.Done():
	}
	return true
}

func (f *freezer) dial(ctx context.Context, network, host string) (net.Conn, error) {
	f.wait(ctx)
	c, err := (&net.Dialer{}).DialContext(ctx, network, host)
	if err != nil {
		return nil, err
	}
	return &frozenConn{Conn: c, f: f}, nil
}

type frozenConn struct {
	net.Conn
	f *freezer
}

func (c *frozenConn) Read(b []byte) (int, error) {
	if c.f.wait(context.Background()) {
		return 0, net.ErrClosed
	}
	return c.Conn.Read(b)
}

func (c *frozenConn) Write(b []byte) (int, error) {
	if c.f.wait(context.Background()) {
		return 0, net.ErrClosed
	}
	return c.Conn.Write(b)
}

// TestShutdownDeadlineWithDeadMember: a member of the group freezes without
// leaving (a killed process), and a new member's join starts a rebalance
// that the broker holds until the frozen member's session expires. On real
// Kafka, Shutdown(ctx) with a 30s deadline took 40.8s in that state and
// returned nil. The deadline must bound Shutdown, and the miss must be
// reported.
func TestShutdownDeadlineWithDeadMember(t *testing.T) {
	ctx := kafkatest.Bound(t, 5*time.Minute)
	e := newEnv(ctx, t, kafkatest.StartBroker(ctx, t), 4, 1)
	pub, err := producer.NewPublisher(ctx, e.producer(), e.topic, e.codec("Step"))
	if err != nil {
		t.Fatal(err)
	}
	publishSteps(ctx, t, pub, 10, 2, 0)
	group := "dead-member"
	b := newBook()
	a := e.consumer(group, consumer.On(e.codec("Step"), b.handle(0)))
	runDone := make(chan error, 1)
	go func() { runDone <- a.Run(context.Background()) }()
	t.Cleanup(a.Close)
	waitFor(t, time.Minute, "the first member to consume", func() bool { n, _ := b.count(); return n == 20 })

	// The member that will die: a long session, so the broker waits for it.
	fr := newFreezer()
	var assigned atomic.Bool
	dead := e.cluster.Client(t, kgo.ConsumerGroup(group), kgo.ConsumeTopics(e.topic), kgo.Dialer(fr.dial),
		kgo.SessionTimeout(45*time.Second), kgo.RebalanceTimeout(45*time.Second),
		kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) { assigned.Store(true) }))
	t.Cleanup(fr.unfreeze) // before its Close (cleanups run last first)
	waitFor(t, time.Minute, "the second member's assignment", func() bool {
		pctx, pcancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer pcancel()
		dead.PollRecords(pctx, 1)
		return assigned.Load()
	})
	fr.freeze()
	// A third member joins: the rebalance waits for the frozen one.
	third := e.cluster.Client(t, kgo.ConsumerGroup(group), kgo.ConsumeTopics(e.topic))
	go func() {
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		defer pcancel()
		third.PollRecords(pctx, 1)
	}()
	time.Sleep(3 * time.Second) // the first member is in the held join by now

	const deadline = 3 * time.Second
	sctx, scancel := context.WithTimeout(context.Background(), deadline)
	defer scancel()
	start := time.Now()
	err = a.Shutdown(sctx)
	took := time.Since(start)
	t.Logf("Shutdown took %v: %v", took, err)
	if took > deadline+2*time.Second {
		t.Fatalf("Shutdown took %v with a %v deadline", took, deadline)
	}
	if err == nil {
		t.Fatal("Shutdown returned nil though it could not leave the group in time")
	}
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, consumer.ErrDrainTimeout) {
		t.Fatalf("Shutdown = %v, want a missed deadline", err)
	}
	select {
	case <-runDone:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after Shutdown")
	}
}
