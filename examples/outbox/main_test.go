package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ordo-go/ordo/consumer/consumertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestStory runs the story as `go run ./examples/outbox` does, on the
// embedded cluster and the in-memory stores: every committed order is
// charged once, the rolled-back one never, and every redelivery (a
// replay of the topic, a relay's duplicate) is skipped and counted.
func TestStory(t *testing.T) {
	var out, errs bytes.Buffer
	if code := mainCode(nil, &out, &errs); code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, errs.String(), out.String())
	}
	wantLines(t, out.String(),
		"20 events wait in the outbox, 0 on the topic",
		"publishes 20 events; the outbox is empty",
		"20 redeliveries skipped as duplicates",
		"the next relay publishes 5 again",
		"5 relay duplicates skipped",
		"orders committed     25 (with their events; 1 rolled back, its event escaped: false)",
		"records on the topic: 30",
		"orders charged       25",
		"duplicates skipped   25",
		"lost                 0",
		"charged twice        0",
	)
}

// TestStoryOnACluster runs the story against a cluster it has never seen,
// with -brokers and -registry (the public test kit's embedded cluster
// standing in for a real one): it creates its own topic and groups.
func TestStoryOnACluster(t *testing.T) {
	env, err := consumertest.New()
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	var out, errs bytes.Buffer
	args := []string{"-brokers", strings.Join(env.Brokers(), ","), "-registry", env.RegistryURL()}
	if code := mainCode(args, &out, &errs); code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, errs.String(), out.String())
	}
	wantLines(t, out.String(), "orders charged       25", "duplicates skipped   25", "lost                 0", "charged twice        0")
}

// TestStoryFailsOnDoubleCharge protects the story's verdict: billing
// without the inbox charges every redelivery, and the run fails naming
// the orders charged twice.
func TestStoryFailsOnDoubleCharge(t *testing.T) {
	storyFailsOnDoubleCharge(t, "")
}

func storyFailsOnDoubleCharge(t *testing.T, postgres string) {
	t.Helper()
	cfg, err := parseFlags([]string{"-postgres", postgres}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	cfg.direct = true
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	err = run(ctx, cfg, &out)
	if err == nil || !strings.Contains(err.Error(), "charged twice [order-000") {
		t.Fatalf("billing without the inbox: err %v, want orders charged twice\n%s", err, out.String())
	}
	wantLines(t, out.String(), "charged twice        25", "duplicates skipped   0")
}

func wantLines(t *testing.T, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}
