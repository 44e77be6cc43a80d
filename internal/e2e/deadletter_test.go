//go:build integration

package e2e

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ordo-go/ordo/consumer/dlq"
	"github.com/ordo-go/ordo/internal/header"
	"github.com/ordo-go/ordo/internal/kafkatest"
	"github.com/ordo-go/ordo/internal/quarantine"
)

// TestQuarantineSurvivesRebalance (real Kafka): a member commits an offset
// with the quarantine set as commit metadata and leaves; the next member
// reads the set back when the partition is assigned to it. A commit that
// does not set metadata leaves kgo's member ID, which Decode reports as
// no set.
func TestQuarantineSurvivesRebalance(t *testing.T) {
	ctx := kafkatest.Bound(t, 4*time.Minute)
	c := kafkatest.StartBroker(ctx, t)
	topic, group := fmt.Sprintf("q-%d", time.Now().UnixNano()), "q-group"
	if _, err := c.Admin(t).CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	if err := c.Client(t).ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte("k"), Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	set, _ := quarantine.New(0)
	for i := range set.Cap() { // a full set: the largest metadata ordo writes
		_ = set.Start([]byte(fmt.Sprint("key-", i)), int64(i))
	}
	want := set.Encode()
	member := func(opts ...kgo.Opt) *kgo.Client {
		return c.Client(t, append([]kgo.Opt{kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	}
	a := member()
	fs := a.PollFetches(ctx)
	if fs.NumRecords() != 1 {
		t.Fatalf("first member: %v", fs.Errors())
	}
	md := kgo.PreCommitFnContext(ctx, func(req *kmsg.OffsetCommitRequest) error {
		for i := range req.Topics {
			for j := range req.Topics[i].Partitions {
				req.Topics[i].Partitions[j].Metadata = &want
			}
		}
		return nil
	})
	if err := a.CommitRecords(md, fs.Records()...); err != nil {
		t.Fatal(err)
	}
	a.Close()

	got := make(chan kadm.OffsetResponse, 1)
	b := member(kgo.OnPartitionsAssigned(func(ctx context.Context, cl *kgo.Client, _ map[string][]int32) {
		resp, err := kadm.NewClient(cl).FetchOffsetsForTopics(ctx, group, topic)
		if err != nil {
			t.Errorf("fetch offsets: %v", err)
			return
		}
		o, _ := resp.Lookup(topic, 0)
		got <- o
	}))
	pollCtx, stopPoll := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); b.PollFetches(pollCtx) }()
	defer func() { stopPoll(); <-done }()
	select {
	case o := <-got:
		if o.At != 1 || o.Metadata != want {
			t.Fatalf("next member read offset %d and %d bytes of metadata; want 1 and %d", o.At, len(o.Metadata), len(want))
		}
	case <-ctx.Done():
		t.Fatal("next member was never assigned")
	}
	b.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{topic: {0: {Epoch: -1, Offset: 1}}}, nil)
	resp, err := kadm.NewClient(b).FetchOffsetsForTopics(ctx, group, topic)
	if err != nil {
		t.Fatal(err)
	}
	o, _ := resp.Lookup(topic, 0)
	if _, err := quarantine.Decode(o.Metadata, 0); !errors.Is(err, quarantine.ErrNoSet) {
		t.Fatalf("after a commit without metadata: %q (%v), want ErrNoSet", o.Metadata, err)
	}
}

// TestRedriveRealKafka: the redrive round trip on a real broker, whose
// answers for a new group and for commits from a group with no members
// differ from kfake's.
func TestRedriveRealKafka(t *testing.T) {
	ctx := kafkatest.Bound(t, 4*time.Minute)
	c := kafkatest.StartBroker(ctx, t)
	suffix := time.Now().UnixNano()
	orders, dlt := fmt.Sprintf("orders-%d", suffix), fmt.Sprintf("orders-%d.dlt", suffix)
	for _, name := range []string{orders, dlt} {
		if _, err := c.Admin(t).CreateTopic(ctx, 3, 1, nil, name); err != nil {
			t.Fatal(err)
		}
	}
	cl := c.Client(t)
	for i := range int64(4) {
		orig := &kgo.Record{Topic: orders, Offset: i, Key: []byte("k"), Value: []byte{byte(i)}}
		f := dlq.Failure{Reason: dlq.Permanent, Err: errors.New("no")}
		if i > 0 {
			f = dlq.Failure{Reason: dlq.Quarantined, QuarantineOffset: 0}
		}
		if err := cl.ProduceSync(ctx, dlq.Build(dlt, orig, f)).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	d, err := dlq.New(dlq.Brokers(c.Brokers()...))
	if err != nil {
		t.Fatal(err)
	}
	cfg := dlq.RedriveConfig{Topic: dlt, Group: "ops"}
	rep, err := d.Redrive(ctx, cfg)
	if err != nil || rep.Redriven != 4 || rep.Lifted != 1 {
		t.Fatalf("redrive: %+v, %v", rep, err)
	}
	if rep, err := d.Redrive(ctx, cfg); err != nil || rep.Scanned != 0 {
		t.Fatalf("second redrive: %+v, %v", rep, err)
	}
	rd := c.Client(t, kgo.ConsumeTopics(orders), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var got []*kgo.Record
	for len(got) < 4 && ctx.Err() == nil {
		got = append(got, rd.PollFetches(ctx).Records()...)
	}
	for i, r := range got {
		if len(r.Value) != 1 || r.Value[0] != byte(i) {
			t.Fatalf("record %d has value %v: out of order", i, r.Value)
		}
		_, lift := header.Get(r.Headers, header.RedriveLift)
		if lift != (i == 3) {
			t.Fatalf("record %d: lift %v", i, lift)
		}
	}
}
