package producer

import (
	"testing"

	"github.com/ordo-go/ordo/internal/client"
	"github.com/ordo-go/ordo/schema"
)

// TestWriterIsSafe protects the producer's client against drifting from
// the writer settings every role shares (internal/client.Writer): acks=all,
// idempotence, cancellable writes, a delivery timeout.
func TestWriterIsSafe(t *testing.T) {
	reg, err := schema.NewRegistry([]string{"http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(Brokers("127.0.0.1:1"), Registry(reg))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := client.CheckWriter(p.cl); err != nil {
		t.Fatal(err)
	}
}
