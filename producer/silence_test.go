package producer

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/ordo-go/ordo/internal/embedded"
	"github.com/ordo-go/ordo/schema"
)

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestUnreachableBrokersAreReported protects callers from silence: with
// no broker listening, NewPublisher (which reads the topic's stamped
// partition count) fails within its bound, and a Publish without a
// deadline fails with
// ErrDeliveryTimeout once the delivery timeout has passed (it used to
// wait for ever), and franz-go's warning that it cannot connect reaches
// the producer's logger within seconds.
func TestUnreachableBrokersAreReported(t *testing.T) {
	e := startEnv(t, nil) // for the registry only
	var logs syncBuffer
	p, err := New(Brokers(closedPort(t)), Registry(e.reg), WithLogger(testLogger(&logs)),
		DeliveryTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	checkOrderedRefused(t, p)
	pub, err := NewUnorderedPublisher(context.Background(), p, "metrics", codec[Metric](t, metricAvsc), AllowMissingTopic())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	done := make(chan error, 1)
	go func() { _, err := pub.Publish(context.Background(), Metric{"m", 1}); done <- err }()
	var got error
	select {
	case got = <-done:
	case <-time.After(15 * time.Second):
		t.Fatalf("Publish still waiting after 15s with a 1s delivery timeout; logs:\n%s", logs.String())
	}
	took := time.Since(start)
	var pe *PublishError
	if !errors.As(got, &pe) || !errors.Is(got, ErrDeliveryTimeout) || !errors.Is(got, kgo.ErrRecordTimeout) {
		t.Fatalf("got %v, want a *PublishError wrapping ErrDeliveryTimeout and kgo.ErrRecordTimeout", got)
	}
	if errors.Is(got, context.DeadlineExceeded) {
		t.Fatalf("a delivery timeout must not read as the caller's deadline: %v", got)
	}
	if took < 900*time.Millisecond {
		t.Fatalf("failed after %v, before the delivery timeout", took)
	}
	if !strings.Contains(logs.String(), "unable to open connection to broker") || !strings.Contains(logs.String(), "level=WARN") {
		t.Fatalf("no warning about the unreachable broker logged:\n%s", logs.String())
	}
	if c := errorType(got).Value.AsString(); c != "delivery_timeout" {
		t.Fatalf("error.type %q, want delivery_timeout", c)
	}
}

// TestDeliveryTimeoutOption protects the option's validation.
func TestDeliveryTimeoutOption(t *testing.T) {
	for _, d := range []time.Duration{0, -time.Second} {
		if _, err := New(Brokers("127.0.0.1:1"), DeliveryTimeout(d)); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "DeliveryTimeout") {
			t.Fatalf("DeliveryTimeout(%v): %v", d, err)
		}
	}
}

// TestWrongPasswordIsReported protects callers from the 40–60 s of
// silence a wrong SASL password used to cost: kfake, like some brokers,
// closes the connection on a failed login, which franz-go logs at debug
// only; the producer warns about it, once, and Publish without a deadline
// fails with ErrDeliveryTimeout.
func TestWrongPasswordIsReported(t *testing.T) {
	c, err := embedded.Start(embedded.Config{Brokers: 1, Topics: map[string]int32{"orders": 1},
		Kfake: []kfake.Opt{kfake.EnableSASL(), kfake.Superuser("PLAIN", "admin", "right")}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	reg, err := schema.NewRegistry([]string{c.RegistryURL()})
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	p, err := New(Brokers(c.Brokers()...), Registry(reg), WithLogger(testLogger(&logs)), DeliveryTimeout(time.Second),
		SASL(plain.Auth{User: "admin", Pass: "wrong"}.AsMechanism()))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	checkOrderedRefused(t, p)
	pub, err := NewUnorderedPublisher(context.Background(), p, "metrics", codec[Metric](t, metricAvsc), AllowMissingTopic())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := pub.Publish(context.Background(), Metric{"m", 1}); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrDeliveryTimeout) {
			t.Fatalf("got %v, want ErrDeliveryTimeout", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("Publish still waiting after 15s with a 1s delivery timeout; logs:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "SASL authentication") || !strings.Contains(logs.String(), "level=WARN") {
		t.Fatalf("no error about the failed login logged:\n%s", logs.String())
	}
	if n := strings.Count(logs.String(), "SASL authentication"); n != 1 {
		t.Fatalf("warned %d times, want once:\n%s", n, logs.String())
	}
	if strings.Contains(logs.String(), "wrong") {
		t.Fatalf("the password reached the log:\n%s", logs.String())
	}
}

// checkOrderedRefused checks that NewPublisher, which must read the
// topic's stamped partition count, fails within its bound when the
// cluster cannot be used, with an error that is not a configuration
// error.
func checkOrderedRefused(t *testing.T, p *Producer) {
	t.Helper()
	start := time.Now()
	_, err := NewPublisher(context.Background(), p, "orders", codec[Created](t, createdAvsc))
	if err == nil || errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("NewPublisher: %v, want an error reading the partition count", err)
	}
	if took := time.Since(start); took > countReadTimeout+2*time.Second {
		t.Fatalf("NewPublisher took %v", took)
	}
}
