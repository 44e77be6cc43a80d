package inbox_test

import (
	"context"
	"fmt"
	"log"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/consumer"
	"github.com/ordo-go/ordo/consumer/inbox"
)

// A payment is charged once although its record arrives twice (as after
// a crash before the offset commit). A service uses its database's store
// (pginbox) and passes the wrapped handler to consumer.On; this calls it
// directly.
func Example() {
	store := inbox.NewMemory()
	in, err := inbox.New(store, inbox.Scope("billing"))
	if err != nil {
		log.Fatal(err)
	}
	charged := 0
	h := inbox.Handle(in, func(ctx context.Context, tx *inbox.MemTx, cents int64, m consumer.Meta) error {
		tx.OnCommit(func() { charged += int(cents) }) // with PostgreSQL: tx.Exec(ctx, "UPDATE ...")
		return nil
	})
	m := consumer.Meta{Topic: "payments", Headers: []kgo.RecordHeader{{Key: "ordo-id", Value: []byte("0190b7a4-1c2e-7d3f-8a4b-5c6d7e8f9a0b")}}}
	for range 2 {
		if err := h(context.Background(), 250, m); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println("charged:", charged, "duplicates:", in.Duplicates())
	// Output:
	// charged: 250 duplicates: 1
}
