package producer

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// goneBound is how long past the DeliveryTimeout the tests below let a
// publish or Close take before they fail: generous, for a busy machine;
// the bound the docs promise is DeliveryTimeout + deliverySlack.
const goneBound = 10 * time.Second

// TestDeliveryTimeoutWhenBrokerGoes protects the DeliveryTimeout promise
// in the broker states franz-go does not time out an idempotent producer
// in: the broker goes away after the producer has used the topic (every
// connection closed), or keeps the connection open and stops answering
// (black hole). Publish(context.Background()) and PublishAsync must fail
// with ErrDeliveryTimeout within the DeliveryTimeout and a slack, and
// Close must return within its bound; before, Publish was still waiting
// at 60 s.
func TestDeliveryTimeoutWhenBrokerGoes(t *testing.T) {
	for _, tt := range []struct {
		name string
		mode gateMode
	}{{"refuse", gateRefuse}, {"black-hole", gateBlackHole}} {
		t.Run(tt.name, func(t *testing.T) {
			const timeout = 3 * time.Second
			e, g := startGatedEnv(t, map[string]int32{"orders": 1})
			p := e.producer(t, DeliveryTimeout(timeout))
			t.Cleanup(func() { g.set(gateOpen) }) // before p.Close: a failed test must not hang
			bg := context.Background()
			pub := newCreatedPublisher(t, p)
			if _, err := pub.Publish(bg, Created{"o-1", 1}); err != nil {
				t.Fatalf("Publish before the broker went: %v", err)
			}
			g.set(tt.mode)

			start := time.Now()
			async := make(chan error, 1)
			if err := pub.PublishAsync(bg, Created{"o-2", 2}, func(_ Result, err error) { async <- err }); err != nil {
				t.Fatalf("PublishAsync: %v", err)
			}
			sync := make(chan error, 1)
			go func() { _, err := pub.Publish(bg, Created{"o-3", 3}); sync <- err }()
			for name, ch := range map[string]chan error{"Publish": sync, "PublishAsync": async} {
				checkTimedOut(t, name, ch, start, timeout)
			}

			closed := make(chan struct{})
			start = time.Now()
			go func() { p.Close(); close(closed) }()
			select {
			case <-closed:
				t.Logf("Close took %v", time.Since(start))
			case <-time.After(goneBound):
				t.Fatalf("Close still waiting after %v", goneBound)
			}
		})
	}
}

// checkTimedOut waits for the outcome of a publish started at start and
// fails unless it is ErrDeliveryTimeout, in time.
func checkTimedOut(t *testing.T, name string, ch <-chan error, start time.Time, timeout time.Duration) {
	t.Helper()
	select {
	case err := <-ch:
		took := time.Since(start)
		if !errors.Is(err, ErrDeliveryTimeout) || !errors.Is(err, kgo.ErrRecordTimeout) {
			t.Fatalf("%s after %v: %v, want ErrDeliveryTimeout", name, took, err)
		}
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s: a delivery timeout must not read as the caller's deadline: %v", name, err)
		}
		if strings.Contains(err.Error(), "missing?") || strings.Contains(err.Error(), "misconfigured?") {
			t.Fatalf("%s: franz-go's SASL/TLS guess reached the caller: %v", name, err)
		}
		t.Logf("%s: %v after %v", name, err, took)
	case <-time.After(time.Until(start.Add(timeout + goneBound))):
		t.Fatalf("%s still waiting %v after it was sent, with a %v DeliveryTimeout", name, time.Since(start), timeout)
	}
}

// TestNoTLSGuessOnBrokerGone protects operators from a false lead: when a
// broker accepts connections and closes them at once (a broker going
// away, a proxy without a backend), franz-go fails the event early with
// *kgo.ErrFirstReadEOF and guesses "is TLS missing?" in its message. The
// producer keeps the error (errors.As still finds it) and drops the
// guess.
func TestNoTLSGuessOnBrokerGone(t *testing.T) {
	e, g := startGatedEnv(t, map[string]int32{"orders": 1})
	p := e.producer(t, DeliveryTimeout(30*time.Second))
	t.Cleanup(func() { g.set(gateOpen) })
	pub := newCreatedPublisher(t, p)
	bg := context.Background()
	if _, err := pub.Publish(bg, Created{"o-1", 1}); err != nil {
		t.Fatalf("Publish before the broker went: %v", err)
	}
	g.set(gateRefuse)
	ctx, cancel := context.WithTimeout(bg, 45*time.Second)
	defer cancel()
	_, err := pub.Publish(ctx, Created{"o-2", 2})
	if err == nil {
		t.Fatal("Publish succeeded with every connection refused")
	}
	if strings.Contains(err.Error(), "missing?") || strings.Contains(err.Error(), "misconfigured?") {
		t.Fatalf("franz-go's SASL/TLS guess reached the caller: %v", err)
	}
	var eof *kgo.ErrFirstReadEOF
	if !errors.As(err, &eof) && !errors.Is(err, ErrDeliveryTimeout) {
		t.Fatalf("Publish = %v; want kgo's first-read EOF or ErrDeliveryTimeout", err)
	}
	t.Logf("Publish: %v", err)
}
