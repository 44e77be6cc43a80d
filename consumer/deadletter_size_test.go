package consumer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ordo-go/ordo/consumer/dlq"
	"github.com/ordo-go/ordo/partition"
)

// setMaxMessageBytes sets topic's max.message.bytes on f's cluster.
func (f *fixture) setMaxMessageBytes(topic string, n int) {
	f.t.Helper()
	v := fmt.Sprint(n)
	resp, err := f.adm.AlterTopicConfigs(context.Background(),
		[]kadm.AlterConfig{{Op: kadm.SetConfig, Name: "max.message.bytes", Value: &v}}, topic)
	if err == nil {
		_, err = resp.On(topic, nil)
	}
	if err != nil {
		f.t.Fatal(err)
	}
}

// dltParts is the dead-letter topic's partition count in
// TestDeadLetterTooLarge.
const dltParts = 31

// TestDeadLetterTooLarge protects "a record the broker accepted always
// reaches the dead-letter topic". The source topic takes 16 MiB records,
// the dead-letter topic Kafka's default 1 MiB. A 10 MB poison value, a
// poison with a 1 MiB key (and its key's next record, quarantined behind
// it) and a 900 KB poison with 10,000 headers are each dead-lettered cut
// to fit, with reason too-large, the reason they failed for, their sizes
// and coordinates; the cut-key dead letters land on the key's partition;
// the consumer does not halt and the commit moves past them. Before, each
// write failed MESSAGE_TOO_LARGE until the patience ran out and the
// consumer halted (and again at every start).
func TestDeadLetterTooLarge(t *testing.T) {
	f := newFixture(t, 1)
	// 31 partitions: the cut key lands elsewhere than the whole key's
	// partition by its own hash with odds of 30 in 31, so the placement
	// check below almost always proves something (the cut length, and
	// so the hash, moves with the dead letter's headers).
	f.createTopic(dlt, dltParts)
	f.setMaxMessageBytes(f.topic, 16<<20)
	big, err := kgo.NewClient(kgo.SeedBrokers(f.cluster.Brokers()...), kgo.DefaultProduceTopic(f.topic),
		kgo.ProducerBatchMaxBytes(16<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer big.Close()
	poison := func(size int) []byte { v := bytes.Repeat([]byte{'x'}, size); v[0] = 0xff; return v }
	bigKey := bytes.Repeat([]byte{'k'}, 1<<20)
	many := &kgo.Record{Key: []byte("many-headers"), Value: poison(900_000)}
	for i := range 10_000 {
		many.Headers = append(many.Headers, kgo.RecordHeader{Key: fmt.Sprintf("h-%05d", i), Value: bytes.Repeat([]byte{'v'}, 20)})
	}
	next := f.record(Step{Key: string(bigKey), Seq: 2})
	// Offsets: 0 a 10 MB value, 1 a 1 MiB key, 2 that key's next record,
	// 3 900 KB and 10,000 headers, 4 a good record of another key.
	if err := big.ProduceSync(context.Background(), &kgo.Record{Key: []byte("big-value"), Value: poison(10_000_000)},
		&kgo.Record{Key: bigKey, Value: []byte("bad")}, next, many, f.record(Step{Key: "key-001", Seq: 1})).FirstErr(); err != nil {
		t.Fatal(err)
	}

	rec := newRecorder(nil)
	c := f.consumer("too-large", rec.handle, DeadLetterTopic(dlt), DeadLetterPatience(2*time.Second),
		Retry(1, 10*time.Millisecond, 50*time.Millisecond))
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background()) }()
	deadline := time.After(30 * time.Second)
	for c.Stats().DeadLettered < 4 || f.committed("too-large")[0] < 5 {
		select {
		case err := <-done:
			t.Fatalf("Run = %v after %d dead letters, want no halt", err, c.Stats().DeadLettered)
		case <-deadline:
			t.Fatalf("%d dead letters, committed %d after 30s, want 4 and 5", c.Stats().DeadLettered, f.committed("too-large")[0])
		case <-time.After(20 * time.Millisecond):
		}
	}
	c.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if rec.distinct() != 1 {
		t.Fatalf("handled %d records, want key-001's only", rec.distinct())
	}

	got := map[int64]*kgo.Record{}
	infos := map[int64]dlq.Info{}
	for _, d := range f.readTopic(dlt, 4) {
		info, err := dlq.Parse(d)
		if err != nil || info.Reason != dlq.TooLarge || info.Topic != f.topic || dlq.Size(d) > 1048588 {
			t.Fatalf("dead letter %+v (%v, %d bytes), want reason too-large fitting 1 MiB", info, err, dlq.Size(d))
		}
		got[info.Offset], infos[info.Offset] = d, info
	}
	if i := infos[0]; i.OriginalReason != dlq.Unframe || i.OriginalSize != 10_000_000 || len(got[0].Value) != 0 ||
		string(got[0].Key) != "big-value" {
		t.Fatalf("10 MB value: %+v, value %d bytes, key %q", i, len(got[0].Value), got[0].Key)
	}
	sum := sha256.Sum256(bigKey)
	want := int32(partition.For(bigKey, dltParts))
	if int32(partition.For(got[1].Key, dltParts)) == want {
		t.Fatal("the cut key hashes to the key's partition: the placement check below proves nothing")
	}
	for _, o := range []int64{1, 2} {
		i, d := infos[o], got[o]
		if i.OriginalKeySize != 1<<20 || i.OriginalKeySHA256 != hex.EncodeToString(sum[:]) || !bytes.HasPrefix(bigKey, d.Key) ||
			d.Partition != want {
			t.Fatalf("1 MiB key, offset %d: %+v, key %d bytes on partition %d (want %d)", o, i, len(d.Key), d.Partition, want)
		}
	}
	if infos[1].OriginalReason != dlq.Unframe || infos[2].OriginalReason != dlq.Quarantined || infos[2].QuarantineOffset != 1 {
		t.Fatalf("1 MiB key: reasons %q, %q (quarantine %d)", infos[1].OriginalReason, infos[2].OriginalReason, infos[2].QuarantineOffset)
	}
	if i, d := infos[3], got[3]; i.OriginalReason != dlq.Unframe || !bytes.Equal(d.Value, many.Value) || i.DroppedHeaders == 0 ||
		i.DroppedHeaders+len(d.Headers) < 10_000 || string(d.Key) != "many-headers" {
		t.Fatalf("10,000 headers: %+v, value %d bytes, %d headers", i, len(d.Value), len(d.Headers))
	}
	t.Logf("dropped %d of 10,000 headers; 1 MiB key cut to %d bytes", infos[3].DroppedHeaders, len(got[1].Key))
}

// TestDeadLetterLimitLowered: the dead-letter topic's max.message.bytes
// is read before the first write; lowered later (to 64 KiB here), the
// broker refuses a 500 KB dead letter fitted to the old limit. The refusal
// makes the consumer read the limit again and fit the record to it, and it
// is dead-lettered, cut, instead of halting the consumer.
func TestDeadLetterLimitLowered(t *testing.T) {
	f := newFixture(t, 1)
	f.createTopic(dlt, 1)
	f.produce(&kgo.Record{Key: []byte("key-000"), Value: []byte("bad")})
	rec := newRecorder(nil)
	var logs syncBuffer
	c := f.consumer("lowered", rec.handle, DeadLetterTopic(dlt), DeadLetterPatience(20*time.Second),
		Retry(1, 10*time.Millisecond, 50*time.Millisecond), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	wait := runConsumer(t, c)
	waitFor(t, 10*time.Second, "the first dead letter", func() bool { return c.Stats().DeadLettered == 1 })
	f.setMaxMessageBytes(dlt, 64<<10)
	value := make([]byte, 500_000) // random: compressed, a repeated byte would fit 64 KiB whole
	_, _ = rand.NewChaCha8([32]byte{}).Read(value)
	value[0] = 0xff
	f.produce(&kgo.Record{Key: []byte("key-001"), Value: value})
	waitFor(t, 15*time.Second, "the 500 KB record dead-lettered", func() bool { return c.Stats().DeadLettered == 2 })
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	d := f.readTopic(dlt, 2)[1]
	info, err := dlq.Parse(d)
	if err != nil || info.Reason != dlq.TooLarge || info.OriginalSize != 500_000 || len(d.Value) != 0 || dlq.Size(d) > 64<<10 {
		t.Fatalf("dead letter %+v (%v), value %d bytes, size %d", info, err, len(d.Value), dlq.Size(d))
	}
	if n := strings.Count(logs.String(), "MESSAGE_TOO_LARGE"); n != 1 {
		t.Fatalf("%d refusals logged, want the one that made the consumer read the limit again", n)
	}
}

// TestDeadLetterLimitUnreadable: a consumer not allowed to describe the
// dead-letter topic fits dead letters to franz-go's default (1,000,012
// bytes, below Kafka's default limit), says so once, and still
// dead-letters a 2 MB poison record, cut.
func TestDeadLetterLimitUnreadable(t *testing.T) {
	f := newFixture(t, 1)
	f.createTopic(dlt, 1)
	f.setMaxMessageBytes(f.topic, 4<<20)
	kc := f.cluster.Kafka()
	kc.ControlKey(int16(kmsg.DescribeConfigs), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		req := kr.(*kmsg.DescribeConfigsRequest)
		for _, r := range req.Resources {
			if r.ResourceName != dlt { // the quarantine store's topic, readable
				return nil, nil, false
			}
		}
		resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
		for _, r := range req.Resources {
			rr := kmsg.NewDescribeConfigsResponseResource()
			rr.ResourceType, rr.ResourceName, rr.ErrorCode = r.ResourceType, r.ResourceName, kerr.TopicAuthorizationFailed.Code
			resp.Resources = append(resp.Resources, rr)
		}
		return resp, nil, true
	})
	big, err := kgo.NewClient(kgo.SeedBrokers(f.cluster.Brokers()...), kgo.DefaultProduceTopic(f.topic), kgo.ProducerBatchMaxBytes(4<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer big.Close()
	if err := big.ProduceSync(context.Background(), &kgo.Record{Key: []byte("k"), Value: bytes.Repeat([]byte{0xff}, 2_000_000)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	c := f.consumer("unreadable", newRecorder(nil).handle, DeadLetterTopic(dlt), DeadLetterPatience(5*time.Second),
		WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	wait := runConsumer(t, c)
	waitFor(t, 15*time.Second, "the dead letter", func() bool { return c.Stats().DeadLettered == 1 })
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	d := f.readTopic(dlt, 1)[0]
	if info, err := dlq.Parse(d); err != nil || info.Reason != dlq.TooLarge || len(d.Value) != 0 || dlq.Size(d) > 1_000_012 {
		t.Fatalf("dead letter %+v (%v)", info, err)
	}
	if n := strings.Count(logs.String(), "cannot read the dead-letter topic's max.message.bytes"); n != 1 {
		t.Fatalf("said %d times that the limit is assumed, want once", n)
	}
}

// TestDeadLetterSizeBounds protects dlSize's numbers: the limit read from
// the topic is kept within [8 KiB, 100 MiB - 64 KiB] (franz-go writes no
// larger request by default), franz-go's batches are sized with the limit
// known when it asks, and each refusal halves the limit, down to 8 KiB.
func TestDeadLetterSizeBounds(t *testing.T) {
	f := newFixture(t, 1)
	f.createTopic(dlt, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tt := range []struct{ topic, want int }{{200 << 20, 100<<20 - 64<<10}, {1000, 8 << 10}, {3 << 20, 3 << 20}} {
		f.setMaxMessageBytes(dlt, tt.topic)
		var s dlSize
		if n, assumed, err := s.limit(ctx, f.cl, dlt); err != nil || assumed || n != tt.want {
			t.Fatalf("topic limit %d: %d, %v, %v; want %d", tt.topic, n, assumed, err, tt.want)
		}
	}
	s := dlSize{bytes: 3 << 20}
	if n := s.batchLimit(dlt); n != 3<<20 {
		t.Fatalf("batch limit %d, want the known limit", n)
	}
	for _, want := range []int{1 << 20, 512 << 10, 256 << 10} {
		s.refused(2 * want)
		if s.bytes != 0 || s.batch != want {
			t.Fatalf("after a refusal of %d bytes: limit %d, batch %d; want the limit read again and at most %d", 2*want, s.bytes, s.batch, want)
		}
	}
	s.refused(10_000)
	if s.batch != 8<<10 {
		t.Fatalf("batch %d after a refusal of 10,000 bytes, want the 8 KiB floor", s.batch)
	}
	if n, _, err := s.limit(ctx, f.cl, dlt); err != nil || n != 8<<10 {
		t.Fatalf("limit after refusals %d, %v; want 8 KiB though the topic takes 3 MiB", n, err)
	}
}
