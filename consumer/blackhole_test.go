package consumer

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// blackHole sits in kfake's listeners (kfake.ListenFn): once shut, no
// connection it accepted, or accepts later, is answered. What a client
// sends is read and dropped, nothing is written back, and the connection
// stays open, as with a broker host that froze. The clients' sockets are
// real TCP sockets on 127.0.0.1, so their deadlines and Close work as in
// production.
type blackHole struct{ shut atomic.Bool }

func (b *blackHole) listen(network, addr string) (net.Listener, error) {
	l, err := net.Listen(network, addr)
	if err != nil {
		return nil, err
	}
	return &holeListener{Listener: l, b: b}, nil
}

type holeListener struct {
	net.Listener
	b *blackHole
}

func (l *holeListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &holeConn{Conn: c, b: l.b}, nil
}

type holeConn struct {
	net.Conn
	b *blackHole
}

// Read drops what arrives while shut, so kfake never sees a request; it
// returns when the client closes the connection (or kfake does).
func (c *holeConn) Read(p []byte) (int, error) {
	for {
		n, err := c.Conn.Read(p)
		if err != nil || !c.b.shut.Load() {
			return n, err
		}
	}
}

func (c *holeConn) Write(p []byte) (int, error) {
	if c.b.shut.Load() {
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// TestStopBoundedWhenBrokerBlackHoles: the broker's host stops answering
// while its connections stay open, with records finishing and commits in
// flight (CI's TestRecoveryAfterKill froze a member this way and its Close
// waited 19 minutes, until the package timeout). The final commit queued
// behind an autocommit that never got its answer, and kgo's sync commit
// does not give up that wait when its ctx ends. Close must return within
// its 10s budget, Shutdown within its ctx, and every goroutine the client
// started must end (goleak checks the package at exit).
func TestStopBoundedWhenBrokerBlackHoles(t *testing.T) {
	for _, how := range []string{"Close", "Shutdown"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			hole := &blackHole{}
			f := newFixture(t, 4, kfake.ListenFn(hole.listen))
			f.publish(4, 50)
			var handled atomic.Int32
			c := f.consumer("hole-"+how, func(ctx context.Context, _ Step, _ Meta) error {
				select { // slow enough that records still finish after the freeze
				case <-time.After(20 * time.Millisecond):
				case <-ctx.Done():
					return ctx.Err()
				}
				handled.Add(1)
				return nil
			})
			wait := runConsumer(t, c)
			waitFor(t, 30*time.Second, "records handled", func() bool { return handled.Load() >= 20 })
			hole.shut.Store(true)
			time.Sleep(500 * time.Millisecond) // an autocommit is sent into the hole

			start := time.Now()
			done := make(chan error, 1)
			go func() {
				if how == "Close" {
					c.Close()
					done <- nil
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				done <- c.Shutdown(ctx)
			}()
			bound := finalBudget + 15*time.Second // Close's documented budget, and slack for a busy machine
			if how == "Shutdown" {
				bound = 2*time.Second + 15*time.Second
			}
			select {
			case err := <-done:
				t.Logf("%s returned after %v: %v", how, time.Since(start).Round(time.Millisecond), err)
				if how == "Shutdown" && !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("Shutdown = %v, want context.DeadlineExceeded", err)
				}
			case <-time.After(bound):
				t.Fatalf("%s still waiting after %v on a black-holed broker", how, bound)
			}
			wait()
			select { // abandoned at most finalBudget after the bound
			case <-c.clientClosed:
				t.Logf("client closed %v after the stop began", time.Since(start).Round(time.Millisecond))
			case <-time.After(2*finalBudget + 15*time.Second):
				t.Fatal("the client was still closing")
			}
		})
	}
}
