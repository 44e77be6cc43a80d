package telemetry

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var hint = regexp.MustCompile(`SASL missing|TLS missing|TLS misconfigured|which often`)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// listen serves 127.0.0.1 connections with serve until the test ends.
func listen(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { serve(c) })
		}
	})
	return ln.Addr().String()
}

// blackHole is a cluster whose broker never answers a produce request.
func blackHole(t *testing.T) string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop); c.Close() })
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		c.SleepControl(func() { <-stop })
		return nil, nil, false
	})
	return c.ListenAddrs()[0]
}

// TestNoFalseHint: a listener on 127.0.0.1 that accepts and closes at
// once (a broker going away, a proxy without a backend), and a produce
// request cancelled by its deadline while the broker holds it (as a
// dead-letter write is, after 10 s), have nothing to do with SASL or TLS.
// Before, franz-go's guesses ("is TLS missing?", "is SASL missing?")
// reached ordo's log lines and errors; now the fact stays (EOF, and
// errors.As still finds *kgo.ErrFirstReadEOF) and the guess is gone.
func TestNoFalseHint(t *testing.T) {
	closer := listen(t, func(c net.Conn) { c.Close() })
	for _, tt := range []struct {
		name, addr string
		wait       time.Duration
	}{{"accept-close", closer, 3 * time.Second}, {"cancelled", blackHole(t), time.Second}} {
		t.Run(tt.name, func(t *testing.T) {
			var logs syncBuffer
			cl, err := kgo.NewClient(kgo.SeedBrokers(tt.addr), kgo.DefaultProduceTopic("t"),
				kgo.AllowIdempotentProduceCancellation(), // as the consumer's dead-letter client
				kgo.WithLogger(KgoLogger(slog.New(slog.NewTextHandler(&logs, nil)), slog.LevelDebug)))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(context.Background(), tt.wait)
			defer cancel()
			var reqErr error
			if tt.name == "accept-close" {
				_, reqErr = cl.Request(ctx, kmsg.NewPtrMetadataRequest())
				if fe := new(kgo.ErrFirstReadEOF); !errors.As(reqErr, &fe) {
					t.Fatalf("request error %v, want franz-go's *ErrFirstReadEOF", reqErr)
				}
			}
			produceErr := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr()
			if produceErr == nil {
				t.Fatal("the produce request succeeded")
			}
			var fe *kgo.ErrFirstReadEOF
			for _, err := range []error{reqErr, produceErr} {
				if err == nil {
					continue
				}
				u := Unhint(err)
				if hint.MatchString(u.Error()) || errors.As(err, &fe) != errors.As(u, &fe) {
					t.Fatalf("Unhint(%v) = %v", err, u)
				}
			}
			if m := hint.FindString(logs.String()); m != "" {
				t.Fatalf("logs say %q:\n%s", m, logs.String())
			}
		})
	}
	if Unhint(nil) != nil {
		t.Fatal("Unhint(nil) != nil")
	}
}
