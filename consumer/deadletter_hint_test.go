package consumer

import (
	"log/slog"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// falseHint matches franz-go's guesses about a closed connection.
var falseHint = regexp.MustCompile(`SASL missing|TLS missing|TLS misconfigured`)

// TestDeadLetterNoFalseHint: a dead-letter broker that accepts the
// connection and closes it at the first produce request (going away, or
// a proxy without a backend) has nothing to do with SASL or TLS, which
// the consumer's other connections to the same broker use fine. Before,
// franz-go's "is SASL missing?" reached the consumer's log on every try;
// internal/telemetry's TestNoFalseHint covers the errors and a write
// cancelled by its deadline.
func TestDeadLetterNoFalseHint(t *testing.T) {
	f := newFixture(t, 1)
	f.createTopic(dlt, 1)
	f.produce(&kgo.Record{Key: []byte("key-000"), Value: []byte("bad")})
	var down atomic.Bool
	down.Store(true)
	f.dltDown(&down)
	var logs syncBuffer
	c := f.consumer("hint", newRecorder(nil).handle, DeadLetterTopic(dlt),
		WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	wait := runConsumer(t, c)
	waitFor(t, 15*time.Second, "franz-go's line about the closed connection", func() bool {
		return strings.Contains(logs.String(), "killing connection")
	})
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if m := falseHint.FindString(logs.String()); m != "" {
		t.Fatalf("the logs say %q:\n%s", m, logs.String())
	}
}
