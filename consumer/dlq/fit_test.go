package dlq

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/internal/header"
)

func built(key []byte, value int, hs ...kgo.RecordHeader) *kgo.Record {
	orig := &kgo.Record{Topic: "orders", Partition: 2, Offset: 42, Timestamp: time.UnixMilli(1700000000000),
		Key: key, Value: bytes.Repeat([]byte{'v'}, value), Headers: hs}
	return Build(dlt, orig, Failure{Reason: Decode, Stage: StageDecode, Err: errors.New("bad body"), Group: "svc"})
}

func many(n int, name func(int) string, size int) []kgo.RecordHeader {
	hs := make([]kgo.RecordHeader, n)
	for i := range hs {
		hs[i] = kgo.RecordHeader{Key: name(i), Value: bytes.Repeat([]byte{'h'}, size)}
	}
	return hs
}

// TestFit protects Fit's contract at the sizes the issue names, under a
// 1 MiB limit: what fits is untouched; headers go before the value, the
// value before the key; ordo's, Spring's and the trace's headers stay
// (the last of each name, up to 4 KiB); every cut dead letter fits, parses
// and says what it left out.
func TestFit(t *testing.T) {
	const limit = 1048588
	trace := kgo.RecordHeader{Key: header.TraceParent, Value: []byte("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")}
	bigKey := bytes.Repeat([]byte{'k'}, 1<<20)
	for _, tt := range []struct {
		name    string
		d       *kgo.Record
		value   bool // the value is kept
		dropped int  // headers left out; -1: some
		keyCut  bool
	}{
		{name: "fits", d: built([]byte("k"), 1000, trace)},
		{name: "10 MB value", d: built([]byte("k"), 10_000_000, trace)},
		{name: "900 KB and 10,000 headers", d: built([]byte("k"), 900_000, append(many(10_000, func(i int) string { return fmt.Sprintf("h-%05d", i) }, 20), trace)...), value: true, dropped: -1},
		{name: "10,000 ordo-type headers", d: built([]byte("k"), 900_000, many(10_000, func(int) string { return header.Type }, 20)...), value: true, dropped: -1},
		{name: "a 100 KB traceparent", d: built([]byte("k"), 1_000_000, kgo.RecordHeader{Key: header.TraceParent, Value: make([]byte, 100_000)}), value: true, dropped: 1},
		{name: "1 MiB key", d: built(bigKey, 3, trace), keyCut: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := Fit(tt.d, limit)
			if Size(tt.d) <= limit {
				if out != tt.d {
					t.Fatal("a dead letter that fits was copied")
				}
				return
			}
			info, err := Parse(out)
			if err != nil || Size(out) > limit || info.Reason != TooLarge || info.OriginalReason != Decode ||
				info.OriginalSize != int64(len(tt.d.Value)) || info.Offset != 42 || info.Partition != 2 || info.Topic != "orders" {
				t.Fatalf("%+v (%v), %d bytes", info, err, Size(out))
			}
			if got := bytes.Equal(out.Value, tt.d.Value); got != tt.value || !tt.value && (out.Value == nil || len(out.Value) != 0) {
				t.Fatalf("value kept %v (%d bytes), want %v; an empty value, never null", got, len(out.Value), tt.value)
			}
			if tt.dropped == -1 && info.DroppedHeaders == 0 || tt.dropped >= 0 && info.DroppedHeaders != tt.dropped {
				t.Fatalf("dropped %d headers, want %d", info.DroppedHeaders, tt.dropped)
			}
			if tt.dropped != 1 && hdr(out, header.TraceParent) != hdr(tt.d, header.TraceParent) || hdr(out, header.DLTExceptionMessage) != "bad body" {
				t.Fatal("trace or Spring header left out")
			}
			sum := sha256.Sum256(tt.d.Key)
			if tt.keyCut != (info.OriginalKeySize >= 0) || tt.keyCut && (info.OriginalKeySHA256 != hex.EncodeToString(sum[:]) ||
				!bytes.HasPrefix(tt.d.Key, out.Key) || !bytes.Equal(PlacementKey(out, tt.d.Key), tt.d.Key)) {
				t.Fatalf("key cut %v: %+v, key %d bytes", tt.keyCut, info, len(out.Key))
			}
			if !tt.keyCut && (!bytes.Equal(out.Key, tt.d.Key) || PlacementKey(out, tt.d.Key) != nil) {
				t.Fatal("an uncut key changed or asks for placement")
			}
		})
	}
}

// TestSizeIsAnUpperBound protects the one number Fit rests on: a record
// of Size n is taken by franz-go with a batch limit of n and by a broker
// whose max.message.bytes is n.
func TestSizeIsAnUpperBound(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	adm, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, r := range []*kgo.Record{
		{Value: []byte("v")},
		built([]byte("k"), 100),
		built(bytes.Repeat([]byte{'k'}, 300), 70_000, many(1000, func(i int) string { return fmt.Sprint(i) }, 3)...),
		built(nil, 2_000_000),
	} {
		n := Size(r)
		v := fmt.Sprint(n)
		if _, err := kadm.NewClient(adm).AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "max.message.bytes", Value: &v}}, "t"); err != nil {
			t.Fatal(err)
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic("t"),
			kgo.ProducerBatchMaxBytes(int32(max(n, 512)))) // franz-go takes no less
		if err != nil {
			t.Fatal(err)
		}
		err = cl.ProduceSync(ctx, &kgo.Record{Key: r.Key, Value: r.Value, Headers: r.Headers}).FirstErr()
		cl.Close()
		if err != nil {
			t.Fatalf("a record of Size %d: %v", n, err)
		}
	}
}
