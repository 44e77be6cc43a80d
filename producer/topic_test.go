package producer

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// TestMissingTopicRefused protects a service from a misspelt output
// topic: NewPublisher and NewUnorderedPublisher refuse a topic the cluster
// does not have with ErrUnknownTopic, naming it and the opt-out, before
// any event is published (every publish used to fail
// UNKNOWN_TOPIC_OR_PARTITION after its delivery timeout, and an event
// that timed out could still be written later). AllowMissingTopic accepts
// it, and publishing works once the topic is created.
func TestMissingTopicRefused(t *testing.T) {
	e := startEnv(t, map[string]int32{"orders": 3})
	p := e.producer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	created := codec[Created](t, createdAvsc)
	metric := codec[Metric](t, metricAvsc)

	_, err := NewPublisher(ctx, p, "ordrs", created)
	if !errors.Is(err, ErrUnknownTopic) || !strings.Contains(err.Error(), `"ordrs"`) || !strings.Contains(err.Error(), "AllowMissingTopic") {
		t.Fatalf("NewPublisher on a missing topic = %v; want ErrUnknownTopic naming it and the opt-out", err)
	}
	_, err = NewUnorderedPublisher(ctx, p, "metrcs", metric)
	if !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("NewUnorderedPublisher on a missing topic = %v; want ErrUnknownTopic", err)
	}
	if _, err := NewPublisher(ctx, p, "orders", created); err != nil {
		t.Fatalf("NewPublisher on an existing topic: %v", err)
	}

	later, err := NewPublisher(ctx, p, "later", created, AllowMissingTopic())
	if err != nil {
		t.Fatalf("NewPublisher with AllowMissingTopic: %v", err)
	}
	if _, err := kadm.NewClient(p.cl).CreateTopic(ctx, 2, 1, nil, "later"); err != nil {
		t.Fatal(err)
	}
	if _, err := later.Publish(ctx, Created{OrderID: "o-1", Amount: 1}); err != nil {
		t.Fatalf("Publish once the topic exists: %v", err)
	}
}
