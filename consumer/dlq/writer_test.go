package dlq

import (
	"testing"

	"github.com/ordo-go/ordo/internal/client"
)

// TestWriterIsSafe protects the redrive's writer: it is made by the same
// constructor as the producer's and the consumer's dead-letter writer
// (internal/client.Writer). It used to be configured on its own, without
// cancellable writes or a delivery timeout, so a redrive whose broker
// stopped answering waited for ever whatever its ctx.
func TestWriterIsSafe(t *testing.T) {
	c, err := New(Brokers("127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	cl, err := c.kgoClient(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := client.CheckWriter(cl); err != nil {
		t.Fatal(err)
	}
}
