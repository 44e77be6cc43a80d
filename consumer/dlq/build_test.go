package dlq

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/internal/header"
	"github.com/ordo-go/ordo/schema"
)

type ctxKey struct{}

func original() *kgo.Record {
	return &kgo.Record{
		Topic:     "orders",
		Partition: 5,
		Offset:    0x0102030405,
		Timestamp: time.UnixMilli(1700000000123),
		Key:       []byte("order-7"),
		Value:     []byte{0, 0, 0, 0, 1, 2, 'x'},
		Headers: []kgo.RecordHeader{
			{Key: header.Type, Value: []byte("com.example.Created")},
			{Key: header.TraceParent, Value: []byte("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")},
		},
		Context: context.WithValue(context.Background(), ctxKey{}, "trace"),
	}
}

func headerBytes(t *testing.T, hs []kgo.RecordHeader, key string) []byte {
	t.Helper()
	n := 0
	var v []byte
	for _, h := range hs {
		if h.Key == key {
			n++
			v = h.Value
		}
	}
	if n != 1 {
		t.Fatalf("header %s appears %d times, want once", key, n)
	}
	return v
}

// TestBuildSpringEncodings protects interoperability with Spring Kafka:
// every kafka_dlt-* header is byte for byte what its
// DeadLetterPublishingRecoverer writes.
func TestBuildSpringEncodings(t *testing.T) {
	err := fmt.Errorf("handle: %w", &schema.FrameError{Reason: "bad"})
	d := Build("orders.dlt", original(), Failure{Reason: Decode, Stage: StageDecode, Attempts: 1, Err: err, Group: "billing"})
	want := map[string][]byte{
		header.DLTOriginalTopic:         []byte("orders"),
		header.DLTOriginalPartition:     {0, 0, 0, 5},
		header.DLTOriginalOffset:        {0, 0, 0, 1, 2, 3, 4, 5},
		header.DLTOriginalTimestamp:     {0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x7b},
		header.DLTOriginalTimestampType: []byte("CreateTime"),
		header.DLTOriginalConsumerGroup: []byte("billing"),
		header.DLTExceptionFQCN:         []byte("*schema.FrameError"),
		header.DLTExceptionMessage:      []byte(err.Error()),
		header.Reason:                   []byte("decode"),
		header.Attempts:                 []byte("1"),
		header.Stage:                    []byte("decode"),
	}
	for k, v := range want {
		if got := headerBytes(t, d.Headers, k); !bytes.Equal(got, v) {
			t.Errorf("%s = %x, want %x", k, got, v)
		}
	}
	if _, ok := header.Get(d.Headers, header.DLTExceptionCauseFQCN); ok {
		t.Errorf("cause fqcn written although it equals the fqcn")
	}
	if _, ok := header.Get(d.Headers, header.QuarantineOffset); ok {
		t.Errorf("quarantine offset written for reason decode")
	}
}

func TestBuildKeepsRecord(t *testing.T) {
	in := original()
	d := Build("orders.dlt", in, Failure{Reason: Permanent, Err: errors.New("no")})
	if d.Topic != "orders.dlt" || !bytes.Equal(d.Key, in.Key) || !bytes.Equal(d.Value, in.Value) {
		t.Fatalf("got topic %q key %q value %x", d.Topic, d.Key, d.Value)
	}
	if d.Context != in.Context {
		t.Fatalf("context (trace) not kept")
	}
	if d.Partition != 0 || !d.Timestamp.IsZero() {
		t.Fatalf("partition %d / timestamp %v set; the producer places and stamps it", d.Partition, d.Timestamp)
	}
	for i, h := range in.Headers {
		if d.Headers[i].Key != h.Key || !bytes.Equal(d.Headers[i].Value, h.Value) {
			t.Fatalf("original header %d = %v, want %v", i, d.Headers[i], h)
		}
	}
	if len(in.Headers) != 2 {
		t.Fatalf("Build modified its input's headers")
	}
}

func TestBuildQuarantined(t *testing.T) {
	d := Build("orders.dlt", original(), Failure{Reason: Quarantined, Stage: StageQuarantine, QuarantineOffset: 41})
	if got := string(headerBytes(t, d.Headers, header.QuarantineOffset)); got != "41" {
		t.Fatalf("quarantine offset %q, want 41", got)
	}
	if got := string(headerBytes(t, d.Headers, header.DLTExceptionFQCN)); got != "*dlq.QuarantinedError" {
		t.Fatalf("fqcn %q", got)
	}
	info, err := Parse(d)
	if err != nil {
		t.Fatal(err)
	}
	if info.ChainStart() != 41 || info.QuarantineOffset != 41 {
		t.Fatalf("chain start %d, quarantine offset %d; want 41", info.ChainStart(), info.QuarantineOffset)
	}
}

// TestHeadersDoNotGrow protects the promise that a record dead-lettered,
// redriven and dead-lettered again carries one of each header.
func TestHeadersDoNotGrow(t *testing.T) {
	first := Build("orders.dlt", original(), Failure{Reason: HandlerExhausted, Attempts: 5, Err: errors.New("timeout"), Group: "g"})
	info, err := Parse(first)
	if err != nil {
		t.Fatal(err)
	}
	redriven := Restore(first, info)
	if len(redriven.Headers) != len(original().Headers)+1 {
		t.Fatalf("redriven record has %d headers, want the original %d plus ordo-redrives", len(redriven.Headers), len(original().Headers))
	}
	redriven.Headers = append(redriven.Headers,
		kgo.RecordHeader{Key: header.RedriveChain, Value: []byte("9")},
		kgo.RecordHeader{Key: header.RedriveLift, Value: []byte("9")},
		kgo.RecordHeader{Key: header.DLTExceptionStacktrace, Value: []byte("java...")})
	redriven.Topic, redriven.Partition, redriven.Offset = "orders", 5, 99
	second := Build("orders.dlt", redriven, Failure{Reason: Permanent, Attempts: 1, Err: errors.New("bad"), Group: "g"})
	if len(second.Headers) != len(first.Headers)+1 {
		t.Fatalf("second dead letter has %d headers, first %d (+1 for ordo-redrives)", len(second.Headers), len(first.Headers))
	}
	seen := make(map[string]bool)
	for _, h := range second.Headers {
		if seen[h.Key] {
			t.Fatalf("header %s twice", h.Key)
		}
		seen[h.Key] = true
	}
	info2, err := Parse(second)
	if err != nil {
		t.Fatal(err)
	}
	if info2.Redrives != 1 || info2.Offset != 99 || info2.Reason != Permanent {
		t.Fatalf("second: redrives %d offset %d reason %s", info2.Redrives, info2.Offset, info2.Reason)
	}
	again := Restore(second, info2)
	if got, _ := header.Get(again.Headers, header.Redrives); got != "2" {
		t.Fatalf("second redrive count %q, want 2", got)
	}
}

func TestMessageBound(t *testing.T) {
	long := strings.Repeat("é", 2000) // 2 bytes each
	d := Build("dlt", original(), Failure{Reason: Permanent, Err: errors.New("x" + long)})
	msg := headerBytes(t, d.Headers, header.DLTExceptionMessage)
	if len(msg) > MaxMessageBytes || len(msg) < MaxMessageBytes-3 {
		t.Fatalf("message is %d bytes, want at most %d and near it", len(msg), MaxMessageBytes)
	}
	if !utf8.Valid(msg) {
		t.Fatalf("truncated message is not valid UTF-8")
	}
	bad := Build("dlt", original(), Failure{Reason: Permanent, Err: errors.New("a\xffb")})
	if got := string(headerBytes(t, bad.Headers, header.DLTExceptionMessage)); got != "a\uFFFDb" {
		t.Fatalf("invalid UTF-8 gave %q", got)
	}
}

type codeError struct{ err error }

func (e *codeError) Error() string { return "code: " + e.err.Error() }
func (e *codeError) Unwrap() error { return e.err }

func TestTypeNames(t *testing.T) {
	base := errors.New("root")
	for _, tc := range []struct {
		name         string
		err          error
		outer, cause string
	}{
		{"plain", base, "*errors.errorString", "*errors.errorString"},
		{"fmt wrap", fmt.Errorf("a: %w", base), "*errors.errorString", "*errors.errorString"},
		{"typed", fmt.Errorf("a: %w", &codeError{base}), "*dlq.codeError", "*errors.errorString"},
		{"join", errors.Join(&codeError{base}, errors.New("b")), "*dlq.codeError", "*errors.errorString"},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), "context.deadlineExceededError", "context.deadlineExceededError"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, c := typeNames(tc.err)
			if o != tc.outer || c != tc.cause {
				t.Fatalf("got %s, %s; want %s, %s", o, c, tc.outer, tc.cause)
			}
		})
	}
}
