package producer

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestCountReadPastTransactionMarkers protects a publisher made for a
// topic a transactional writer wrote last (a transactional consumer's
// output, restarted): every partition ends in a commit marker, which a
// fetch does not return, and the count read waited for the marker's
// offset until countReadTimeout and failed.
func TestCountReadPastTransactionMarkers(t *testing.T) {
	e := startEnv(t, map[string]int32{"orders": 3})
	e.stampEveryPartition(t, 3)
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.c.Brokers()...), kgo.TransactionalID("writer"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for part := range int32(3) {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "orders", Partition: part, Key: []byte("k"), Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := NewPublisher(ctx, e.producer(t), "orders", codec[Created](t, createdAvsc)); err != nil {
		t.Fatalf("NewPublisher after a transaction: %v (after %v)", err, time.Since(start))
	}
	if d := time.Since(start); d > countReadTimeout/2 {
		t.Fatalf("NewPublisher took %v: it waited for the transaction markers", d)
	}
}
