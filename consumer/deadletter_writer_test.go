package consumer

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/internal/client"
	"github.com/ordo-go/ordo/schema"
)

// TestDeadLetterWriterIsSafe protects the dead-letter writer: it is made by
// the constructor every role's writer is (internal/client.Writer: acks=all,
// idempotence, cancellable writes, a delivery timeout), and the consumer's
// raw KgoOpts, meant for its group client, stay out of it.
func TestDeadLetterWriterIsSafe(t *testing.T) {
	codec, err := schema.NewCodec[Step](stepSchema)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := schema.NewRegistry([]string{"http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Brokers("127.0.0.1:1"), Group("g"), Topics("t"), Registry(reg), DeadLetterTopic("t.dlt"),
		KgoOpts(kgo.ClientID("group-client")), On(codec, func(context.Context, Step, Meta) error { return nil }))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl, err := c.dl.newDeadLetterClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := client.CheckWriter(cl); err != nil {
		t.Fatal(err)
	}
	if id := cl.OptValue(kgo.ClientID); id == "group-client" {
		t.Fatal("the consumer's KgoOpts reached the dead-letter writer")
	}
}
