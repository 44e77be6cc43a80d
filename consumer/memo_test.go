package consumer

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ordo-go/ordo/schema"
)

// memoOther is a second event type for TestWriterMemo.
type memoOther struct {
	X int32 `avro:"x"`
}

// TestWriterMemo protects the lane's memo of its last writer schema
// (pipeline.go): records of three schemas interleaved on one lane, two
// with handlers and one without, each reach their own handler, and only
// the third is skipped as having none, named by its own type.
func TestWriterMemo(t *testing.T) {
	f := newFixture(t, 1)
	ctx := context.Background()
	other, err := schema.NewCodec[memoOther](`{"type":"record","name":"Other","namespace":"ordo.test","fields":[{"name":"x","type":"int"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	otherID, err := f.reg.Register(ctx, "other-value", other.Schema())
	if err != nil {
		t.Fatal(err)
	}
	thirdID, err := f.reg.Register(ctx, "third-value",
		`{"type":"record","name":"Third","namespace":"ordo.test","fields":[{"name":"y","type":"int"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	// Step 1, Other 1, Step 2, Third, Other 2, Step 3, Third, Third, Other 3, ...
	const rounds = 50
	for i := 1; i <= rounds; i++ {
		f.produceRaw("k", mustFramed(t, f.codec, f.id, &Step{Key: "k", Seq: int64(i)}))
		f.produceRaw("k", mustFramed(t, other, otherID, &memoOther{X: int32(i)}))
		if i%2 == 0 {
			f.produceRaw("k", append(schema.AppendHeader(nil, thirdID), 2))
		}
	}
	var mu sync.Mutex
	var steps, others []int64
	var skipped []string
	c := f.consumer("memo", func(_ context.Context, s Step, _ Meta) error {
		mu.Lock()
		defer mu.Unlock()
		steps = append(steps, s.Seq)
		return nil
	}, Concurrency(1), OnFailure(Skip), On(other, func(_ context.Context, o memoOther, _ Meta) error {
		mu.Lock()
		defer mu.Unlock()
		others = append(others, int64(o.X))
		return nil
	}), ErrorHook(func(_ context.Context, re *RecordError) {
		mu.Lock()
		defer mu.Unlock()
		skipped = append(skipped, string(re.Stage)+" "+re.Type)
	}))
	wait := runConsumer(t, c)
	waitFor(t, 20*time.Second, "every record", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(steps) == rounds && len(others) == rounds && len(skipped) == rounds/2
	})
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	for i := range rounds {
		if steps[i] != int64(i+1) || others[i] != int64(i+1) {
			t.Fatalf("record %d: Step %d, Other %d; want %d of each, in order", i, steps[i], others[i], i+1)
		}
	}
	for _, s := range skipped {
		if s != string(StageDispatch)+" ordo.test.Third" {
			t.Fatalf("skipped %q, want only Third's records, at dispatch", s)
		}
	}
}

func mustFramed[T any](t *testing.T, c *schema.Codec[T], id int, v *T) []byte {
	t.Helper()
	b, err := c.AppendFramed(nil, id, v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
