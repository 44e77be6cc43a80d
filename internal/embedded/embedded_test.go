package embedded

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
)

// TestPersistedRestart protects the demo promise: with a data directory, a
// record and a registered schema both survive a restart.
func TestPersistedRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	schema := sr.Schema{Schema: `{"type":"record","name":"E","fields":[{"name":"a","type":"long"}]}`}

	c, err := Start(Config{Brokers: 1, Topics: map[string]int32{"t": 3}, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	srcl, _ := sr.NewClient(sr.URLs(c.RegistryURL()))
	ss, err := srcl.CreateSchema(ctx, "t-value", schema)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Brokers()...))
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Key: []byte("k"), Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	c, err = Start(Config{Brokers: 1, Topics: map[string]int32{"t": 3}, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srcl, _ = sr.NewClient(sr.URLs(c.RegistryURL()))
	got, err := srcl.SchemaByID(ctx, ss.ID)
	if err != nil || got.Schema != schema.Schema {
		t.Fatalf("schema %d after restart: %+v, %v", ss.ID, got, err)
	}
	cl, err = kgo.NewClient(kgo.SeedBrokers(c.Brokers()...), kgo.ConsumeTopics("t"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	fs := cl.PollFetches(ctx)
	if err := fs.Err0(); err != nil {
		t.Fatal(err)
	}
	recs := fs.Records()
	if len(recs) != 1 || string(recs[0].Value) != "v" {
		t.Fatalf("records after restart: %d", len(recs))
	}
}
