package producer

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/ordo-go/ordo/internal/embedded"
	"github.com/ordo-go/ordo/schema"
)

// gateMode is what a gate does to the connections of the broker behind it.
type gateMode int32

const (
	gateOpen      gateMode = iota // pass everything
	gateRefuse                    // close every connection, open and new
	gateBlackHole                 // accept, read, never answer, keep open
)

// gate sits between kfake's listener and its connections, on 127.0.0.1,
// so that a test can take the broker away after clients have used it:
// refuse (every connection closed at once, new ones closed on accept) or
// black-hole (connections accepted and kept open, requests read and
// swallowed, nothing answered: a hung broker or a dropped route).
type gate struct {
	mode  atomic.Int32
	mu    sync.Mutex
	conns map[*gateConn]struct{}
}

func newGate() *gate { return &gate{conns: make(map[*gateConn]struct{})} }

// listen is kfake's ListenFn.
func (g *gate) listen(network, addr string) (net.Listener, error) {
	ln, err := net.Listen(network, addr)
	if err != nil {
		return nil, err
	}
	return &gateListener{Listener: ln, g: g}, nil
}

// set switches the gate; refusing closes every open connection.
func (g *gate) set(m gateMode) {
	g.mode.Store(int32(m))
	if m != gateRefuse {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for c := range g.conns {
		c.Conn.Close()
	}
}

func (g *gate) is(m gateMode) bool { return gateMode(g.mode.Load()) == m }

type gateListener struct {
	net.Listener
	g *gate
}

func (l *gateListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.g.is(gateRefuse) {
			c.Close()
			continue
		}
		gc := &gateConn{Conn: c, g: l.g}
		l.g.mu.Lock()
		l.g.conns[gc] = struct{}{}
		l.g.mu.Unlock()
		return gc, nil
	}
}

// gateConn is one broker-side connection. While the gate black-holes, its
// reads are swallowed (the broker never sees a request) and its writes
// dropped (the client never sees an answer); the connection stays open.
type gateConn struct {
	net.Conn
	g *gate
}

func (c *gateConn) Read(b []byte) (int, error) {
	for {
		n, err := c.Conn.Read(b)
		if err != nil || !c.g.is(gateBlackHole) {
			return n, err
		}
	}
}

func (c *gateConn) Write(b []byte) (int, error) {
	if c.g.is(gateBlackHole) {
		return len(b), nil
	}
	return c.Conn.Write(b)
}

func (c *gateConn) Close() error {
	c.g.mu.Lock()
	delete(c.g.conns, c)
	c.g.mu.Unlock()
	return c.Conn.Close()
}

// startGatedEnv is startEnv with one broker behind a gate.
func startGatedEnv(t testing.TB, topics map[string]int32) (*env, *gate) {
	t.Helper()
	g := newGate()
	c, err := embedded.Start(embedded.Config{Brokers: 1, Topics: topics, Kfake: []kfake.Opt{kfake.ListenFn(g.listen)}})
	if err != nil {
		t.Fatalf("embedded.Start: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	reg, err := schema.NewRegistry([]string{c.RegistryURL()})
	if err != nil {
		t.Fatalf("NewRegistry: %v", err)
	}
	return &env{c: c, reg: reg}, g
}
