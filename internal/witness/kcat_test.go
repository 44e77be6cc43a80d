//go:build integration

package witness

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/internal/kafkatest"
	"github.com/ordo-go/ordo/partition"
	"github.com/ordo-go/ordo/schema"
)

// kcat runs kcat with args and stdin, failing the test if kcat is missing
// (integration runs must have it: .ci/integration.sh installs it) or exits
// with an error. It returns kcat's standard output, byte for byte.
func kcat(ctx context.Context, t *testing.T, stdin []byte, args ...string) []byte {
	t.Helper()
	path, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatalf("kcat not found (apt-get install kcat; .ci/integration.sh installs it): %v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kcat %s: %v\nstderr:\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes()
}

// witnessKeys are keys kcat can take on a "key:value" line: no ':' and no
// newline; ASCII, multi-byte UTF-8, and lengths 1 to 60 so every murmur2
// tail case occurs.
func witnessKeys(n int) []string {
	keys := make([]string, 0, n)
	for i := range n {
		switch i % 4 {
		case 0:
			keys = append(keys, fmt.Sprintf("user-%d", i))
		case 1:
			keys = append(keys, fmt.Sprintf("ключ-鍵-%d", i))
		case 2:
			keys = append(keys, strings.Repeat("x", 1+i%60))
		default:
			keys = append(keys, fmt.Sprintf("%x", uint64(i)*0x9E3779B97F4A7C15))
		}
	}
	return keys
}

// TestKcatPartitionerAgrees protects the promise that a key lands on the
// same partition whether librdkafka or ordo writes it: kcat produces with
// librdkafka's murmur2_random partitioner (the Java client's), and
// partition.For must predict every record's partition.
func TestKcatPartitionerAgrees(t *testing.T) {
	ctx := kafkatest.Bound(t, 4*time.Minute)
	c := kafkatest.StartBroker(ctx, t)
	const topic, parts = "kcat-murmur2", 7
	if _, err := c.Admin(t).CreateTopic(ctx, parts, 1, nil, topic); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	keys := witnessKeys(600)
	var in bytes.Buffer
	for i, k := range keys {
		fmt.Fprintf(&in, "%s:value-%d\n", k, i)
	}
	kcat(ctx, t, in.Bytes(), "-P", "-b", c.Brokers()[0], "-t", topic, "-K:",
		"-X", "topic.partitioner=murmur2_random")

	cl := c.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got, bad := 0, 0
	used := map[int32]bool{}
	for got < len(keys) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records: %v", got, len(keys), ctx.Err())
		}
		fs.EachError(func(_ string, p int32, err error) { t.Fatalf("fetch partition %d: %v", p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			got++
			used[r.Partition] = true
			if want := partition.For(r.Key, parts); int(r.Partition) != want {
				if bad++; bad <= 10 {
					t.Errorf("kcat put key %q on partition %d, partition.For says %d", r.Key, r.Partition, want)
				}
			}
		})
	}
	if bad > 0 {
		t.Fatalf("%d of %d keys placed differently by librdkafka and partition.For", bad, len(keys))
	}
	if len(used) != parts {
		t.Fatalf("records landed on %d of %d partitions: the check would be vacuous", len(used), parts)
	}
}

// TestKcatReadsOrdoFrame protects the other direction: a value ordo frames
// in the Confluent wire format (magic byte, schema ID, body) and writes
// with raw kgo reaches librdkafka byte for byte, with its key, on the
// partition partition.For names, with its headers.
func TestKcatReadsOrdoFrame(t *testing.T) {
	ctx := kafkatest.Bound(t, 4*time.Minute)
	c := kafkatest.StartBroker(ctx, t)
	const topic, parts, id = "kcat-frame", 3, 4242
	if _, err := c.Admin(t).CreateTopic(ctx, parts, 1, nil, topic); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	body := make([]byte, 256) // every byte value, NUL and newline included
	for i := range body {
		body[i] = byte(i)
	}
	value := append(schema.AppendHeader(nil, id), body...)
	rec := &kgo.Record{
		Topic: topic, Key: []byte("order-42"), Value: value,
		Headers: []kgo.RecordHeader{{Key: "ordo-type", Value: []byte("ordo.test.OrderPaid")}},
	}
	res := c.Client(t).ProduceSync(ctx, rec)
	if err := res.FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	if want := partition.For(rec.Key, parts); int(rec.Partition) != want {
		t.Fatalf("kgo wrote to partition %d, partition.For says %d", rec.Partition, want)
	}
	at := []string{"-C", "-b", c.Brokers()[0], "-t", topic,
		"-p", fmt.Sprint(rec.Partition), "-o", fmt.Sprint(rec.Offset), "-c", "1", "-e"}

	raw := kcat(ctx, t, nil, append(at, "-f", "%s")...)
	if !bytes.Equal(raw, value) {
		t.Fatalf("kcat read value\n%x\nordo wrote\n%x", raw, value)
	}
	gotID, gotBody, err := schema.Unframe(raw)
	if err != nil || gotID != id || !bytes.Equal(gotBody, body) {
		t.Fatalf("Unframe(kcat's bytes) = id %d, %d-byte body, %v; want id %d, the %d-byte body", gotID, len(gotBody), err, id, len(body))
	}

	meta := string(kcat(ctx, t, nil, append(at, "-f", "%k|%S|%p|%o|%h")...))
	want := fmt.Sprintf("order-42|%d|%d|%d|ordo-type=ordo.test.OrderPaid", len(value), rec.Partition, rec.Offset)
	if meta != want {
		t.Fatalf("kcat metadata %q, want %q", meta, want)
	}
}
