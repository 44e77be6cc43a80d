package quarantine

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ordo-go/ordo/internal/embedded"
)

// withMetadata is how the consumer attaches each partition's set to its
// explicit commits.
func withMetadata(ctx context.Context, md map[int32]string) context.Context {
	return kgo.PreCommitFnContext(ctx, func(req *kmsg.OffsetCommitRequest) error {
		for i := range req.Topics {
			for j := range req.Topics[i].Partitions {
				p := &req.Topics[i].Partitions[j]
				if m, ok := md[p.Partition]; ok {
					p.Metadata = &m
				}
			}
		}
		return nil
	})
}

func groupMember(t *testing.T, brokers []string, assigned func(context.Context, *kgo.Client, map[string][]int32)) *kgo.Client {
	t.Helper()
	opts := []kgo.Opt{
		kgo.SeedBrokers(brokers...), kgo.ConsumerGroup("g"), kgo.ConsumeTopics("t"),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}
	if assigned != nil {
		opts = append(opts, kgo.OnPartitionsAssigned(assigned))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// TestCommitMetadataSurvivesRebalance is the durability the consumer
// builds on: a member commits an offset with the quarantine set as
// metadata, leaves, and the next member of the group reads the set back
// when the partition is assigned to it. It also pins two franz-go facts
// the consumer must respect: a commit of an unchanged offset with new
// metadata goes through CommitOffsetsSync, and a commit without the
// PreCommitFn clears the metadata.
func TestCommitMetadataSurvivesRebalance(t *testing.T) {
	c, err := embedded.Start(embedded.Config{Brokers: 1, Topics: map[string]int32{"t": 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	prod, err := kgo.NewClient(kgo.SeedBrokers(c.Brokers()...))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	if err := prod.ProduceSync(ctx, &kgo.Record{Topic: "t", Key: []byte("k"), Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	set, _ := New(0)
	_ = set.Start([]byte("k"), 0)
	want := set.Encode()

	a := groupMember(t, c.Brokers(), nil)
	fs := a.PollFetches(ctx)
	if err := fs.Err0(); err != nil || fs.NumRecords() != 1 {
		t.Fatalf("first member: %v, %d records", err, fs.NumRecords())
	}
	if err := a.CommitRecords(withMetadata(ctx, map[int32]string{0: want}), fs.Records()...); err != nil {
		t.Fatal(err)
	}
	a.Close() // leaves the group

	got := make(chan kadm.OffsetResponse, 1)
	b := groupMember(t, c.Brokers(), func(ctx context.Context, cl *kgo.Client, _ map[string][]int32) {
		resp, err := kadm.NewClient(cl).FetchOffsetsForTopics(ctx, "g", "t")
		if err != nil {
			t.Errorf("fetch offsets: %v", err)
			return
		}
		o, _ := resp.Lookup("t", 0)
		got <- o
	})
	defer b.Close()
	go b.PollFetches(ctx) // joins the group; the assignment callback runs inside
	var o kadm.OffsetResponse
	select {
	case o = <-got:
	case <-ctx.Done():
		t.Fatal("second member was never assigned")
	}
	if o.Err != nil || o.At != 1 || o.Metadata != want {
		t.Fatalf("read back offset %d metadata %q (%v); want 1 %q", o.At, o.Metadata, o.Err, want)
	}
	back, err := Decode(o.Metadata, 0)
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := back.Get([]byte("k")); !ok || e.Start != 0 {
		t.Fatalf("quarantine of k after rebalance: %+v %v", e, ok)
	}

	// The set changes while the offset does not: commit the same offset.
	back.Lift([]byte("k"), 0, 0)
	_ = back.Start([]byte("k2"), 1)
	updated := back.Encode()
	offsets := map[string]map[int32]kgo.EpochOffset{"t": {0: {Epoch: -1, Offset: 1}}}
	var commitErr error
	b.CommitOffsetsSync(withMetadata(ctx, map[int32]string{0: updated}), offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		commitErr = err
		if err == nil {
			commitErr = kerrFirst(resp)
		}
	})
	if commitErr != nil {
		t.Fatal(commitErr)
	}
	if md := fetchMetadata(ctx, t, b); md != updated {
		t.Fatalf("after re-commit: metadata %q, want %q", md, updated)
	}

	// A commit without the metadata replaces it with kgo's member ID.
	b.CommitOffsetsSync(ctx, offsets, nil)
	md := fetchMetadata(ctx, t, b)
	if s, err := Decode(md, 0); !errors.Is(err, ErrNoSet) || s.Len() != 0 {
		t.Fatalf("a commit without metadata left %q (%v); the consumer relies on ErrNoSet here", md, err)
	}
}

func fetchMetadata(ctx context.Context, t *testing.T, cl *kgo.Client) string {
	t.Helper()
	resp, err := kadm.NewClient(cl).FetchOffsetsForTopics(ctx, "g", "t")
	if err != nil {
		t.Fatal(err)
	}
	o, _ := resp.Lookup("t", 0)
	return o.Metadata
}

func kerrFirst(resp *kmsg.OffsetCommitResponse) error {
	for _, tp := range resp.Topics {
		for _, p := range tp.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return err
			}
		}
	}
	return nil
}
