package consumer

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestMissingTopicNamed protects a service from a misspelt input topic:
// within a few seconds of Run a WARN line names the topic and Ready's
// error says the topic does not exist (it used to say only "not in the
// group yet", and nothing was logged at the default level). The consumer
// waits for the topic: once it is created, Ready clears.
func TestMissingTopicNamed(t *testing.T) {
	f := newFixture(t, 1)
	var logs syncBuffer
	rec := newRecorder(nil)
	c := f.consumer("misspelt", rec.handle, Topics("ordrs"),
		WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	wait := runConsumer(t, c)
	start := time.Now()
	waitFor(t, 10*time.Second, "Ready to name the missing topic", func() bool {
		err := c.Ready(0)
		return errors.Is(err, ErrNotReady) && strings.Contains(err.Error(), `consumed topic "ordrs" does not exist`)
	})
	t.Logf("named after %v: %v", time.Since(start).Round(time.Millisecond), c.Ready(0))
	if !strings.Contains(logs.String(), "consumed topic does not exist") || !strings.Contains(logs.String(), "topic=ordrs") {
		t.Fatalf("no WARN line names the topic; logs:\n%s", logs.String())
	}
	if n := strings.Count(logs.String(), "consumed topic does not exist"); n != 1 {
		t.Fatalf("the missing topic was warned about %d times, want once; logs:\n%s", n, logs.String())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := f.adm.CreateTopic(ctx, 1, 1, nil, "ordrs"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "Ready once the topic exists", func() bool { return c.Ready(0) == nil })
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
}
