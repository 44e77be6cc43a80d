package consumer

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// blockUntilCancelled is a handler that returns only when its ctx ends.
func blockUntilCancelled(started chan<- struct{}) Handler[Step] {
	var once atomic.Bool
	return func(ctx context.Context, s Step, m Meta) error {
		if once.CompareAndSwap(false, true) {
			close(started)
		}
		<-ctx.Done()
		return ctx.Err()
	}
}

// TestShutdownAfterClose: Shutdown on a closed consumer says so, instead
// of "drain timed out" (for the handler Close cancelled) or nil.
func TestShutdownAfterClose(t *testing.T) {
	f := newFixture(t, 1)
	f.publish(1, 1)
	started := make(chan struct{})
	c := f.consumer("after-close", blockUntilCancelled(started))
	wait := runConsumer(t, c)
	<-started
	c.Close()
	if err := wait(); err != nil {
		t.Fatalf("Run after Close = %v, want nil", err)
	}
	if err := c.Shutdown(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Shutdown after Close = %v, want ErrClosed", err)
	}
}

// TestRunReportsDrainTimeout: when Run's ctx is cancelled and a handler
// outlives the drain timeout, Run says so (it used to return nil), and
// each record is counted once: the cancelled one as abandoned, the one
// queued behind it as dropped (the cancelled one used to count as both).
func TestRunReportsDrainTimeout(t *testing.T) {
	f := newFixture(t, 1)
	f.publish(1, 2)
	started := make(chan struct{})
	c := f.consumer("drain", blockUntilCancelled(started), DrainTimeout(100*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	<-started
	waitFor(t, 5*time.Second, "both records fetched", func() bool { return c.Stats().Fetched == 2 })
	cancel()
	if err := <-done; !errors.Is(err, ErrDrainTimeout) {
		t.Fatalf("Run = %v, want ErrDrainTimeout", err)
	}
	if st := c.Stats(); st.Abandoned != 1 || st.Dropped != 1 {
		t.Fatalf("stats = %+v, want 1 abandoned and 1 dropped", st)
	}
}

// TestFinalCommitFailureReturned: a final commit that fails used to be
// only logged, and Shutdown returned nil.
func TestFinalCommitFailureReturned(t *testing.T) {
	f := newFixture(t, 1)
	f.publish(1, 1)
	var handled atomic.Int32
	c := f.consumer("commitfail", func(context.Context, Step, Meta) error { handled.Add(1); return nil },
		CommitInterval(time.Hour))
	wait := runConsumer(t, c)
	waitFor(t, 10*time.Second, "the record", func() bool { return handled.Load() == 1 })
	f.cluster.Kafka().ControlKey(kmsg.OffsetCommit.Int16(), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		f.cluster.Kafka().KeepControl()
		req := kr.(*kmsg.OffsetCommitRequest)
		resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewOffsetCommitResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewOffsetCommitResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.GroupAuthorizationFailed.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	err := c.Shutdown(context.Background())
	if !errors.Is(err, kerr.GroupAuthorizationFailed) || !strings.Contains(err.Error(), "final commit") {
		t.Fatalf("Shutdown = %v, want the final commit's failure", err)
	}
	if werr := wait(); !errors.Is(werr, kerr.GroupAuthorizationFailed) {
		t.Fatalf("Run = %v, want the final commit's failure", werr)
	}
}

// TestShutdownBoundedByCtx: a leave the group does not answer (as when it
// waits for a dead member) used to hold Shutdown past its deadline, which
// then returned nil. Shutdown returns at its deadline and says it missed.
func TestShutdownBoundedByCtx(t *testing.T) {
	f := newFixture(t, 1)
	f.publish(1, 1)
	var handled atomic.Int32
	c := f.consumer("leave", func(context.Context, Step, Meta) error { handled.Add(1); return nil })
	wait := runConsumer(t, c)
	waitFor(t, 10*time.Second, "the record", func() bool { return handled.Load() == 1 })
	release := make(chan struct{})
	t.Cleanup(func() {
		close(release)
		<-c.clientClosed // the close went on in the background; let it end
	})
	f.cluster.Kafka().ControlKey(kmsg.LeaveGroup.Int16(), func(kmsg.Request) (kmsg.Response, error, bool) {
		f.cluster.Kafka().SleepControl(func() { <-release })
		return nil, nil, false
	})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := c.Shutdown(ctx)
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Shutdown took %v with a 300ms deadline", d)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want context.DeadlineExceeded", err)
	}
	if werr := wait(); !errors.Is(werr, context.DeadlineExceeded) {
		t.Fatalf("Run = %v", werr)
	}
}
