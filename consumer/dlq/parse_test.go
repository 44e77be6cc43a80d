package dlq

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/internal/header"
)

func TestParseRoundTrip(t *testing.T) {
	in := original()
	d := Build("orders.dlt", in, Failure{Reason: HandlerExhausted, Stage: StageHandle, Attempts: 7, Err: &codeError{errors.New("boom")}, Group: "billing"})
	info, err := Parse(d)
	if err != nil {
		t.Fatal(err)
	}
	want := Info{
		Family: FamilySpring, Topic: "orders", Partition: 5, Offset: 0x0102030405, Timestamp: time.UnixMilli(1700000000123),
		TimestampType: "CreateTime", Group: "billing", FQCN: "*dlq.codeError", CauseFQCN: "*errors.errorString",
		Message: "code: boom", Reason: HandlerExhausted, Stage: StageHandle, Attempts: 7, QuarantineOffset: -1, OriginalSize: -1, OriginalKeySize: -1,
	}
	if !info.Timestamp.Equal(want.Timestamp) {
		t.Fatalf("timestamp %v, want %v", info.Timestamp, want.Timestamp)
	}
	info.Timestamp = want.Timestamp
	if info != want {
		t.Fatalf("got  %+v\nwant %+v", info, want)
	}
	if info.ChainStart() != in.Offset {
		t.Fatalf("chain start %d, want own offset", info.ChainStart())
	}
}

func TestParseNoTimestamp(t *testing.T) {
	in := original()
	in.Timestamp = time.Time{}
	info, err := Parse(Build("dlt", in, Failure{Reason: Permanent}))
	if err != nil {
		t.Fatal(err)
	}
	if !info.Timestamp.IsZero() {
		t.Fatalf("timestamp %v, want zero for -1", info.Timestamp)
	}
}

func TestParseMalformed(t *testing.T) {
	good := func() []kgo.RecordHeader {
		return Build("dlt", original(), Failure{Reason: Permanent, Err: errors.New("x")}).Headers
	}
	set := func(k string, v []byte) []kgo.RecordHeader {
		hs := good()
		for i := range hs {
			if hs[i].Key == k {
				hs[i].Value = v
			}
		}
		return append(hs, kgo.RecordHeader{Key: k, Value: v}) // the last one wins
	}
	drop := func(k string) []kgo.RecordHeader {
		var out []kgo.RecordHeader
		for _, h := range good() {
			if h.Key != k {
				out = append(out, h)
			}
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		headers []kgo.RecordHeader
		header  string
	}{
		{"partition 3 bytes", set(header.DLTOriginalPartition, []byte{0, 0, 1}), header.DLTOriginalPartition},
		{"partition missing", drop(header.DLTOriginalPartition), header.DLTOriginalPartition},
		{"offset 4 bytes", set(header.DLTOriginalOffset, []byte{0, 0, 0, 1}), header.DLTOriginalOffset},
		{"offset missing", drop(header.DLTOriginalOffset), header.DLTOriginalOffset},
		{"timestamp empty", set(header.DLTOriginalTimestamp, nil), header.DLTOriginalTimestamp},
		{"attempts text", set(header.Attempts, []byte("many")), header.Attempts},
		{"attempts negative", set(header.Attempts, []byte("-1")), header.Attempts},
		{"redrives text", set(header.Redrives, []byte("1e3")), header.Redrives},
		{"quarantine offset", set(header.QuarantineOffset, []byte("x")), header.QuarantineOffset},
		{"message not utf-8", set(header.DLTExceptionMessage, []byte{0xff}), header.DLTExceptionMessage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(&kgo.Record{Headers: tc.headers})
			var he *HeaderError
			if !errors.Is(err, ErrMalformed) || !errors.As(err, &he) || he.Header != tc.header {
				t.Fatalf("got %v, want a HeaderError for %s", err, tc.header)
			}
		})
	}
	if _, err := Parse(&kgo.Record{Headers: drop(header.DLTOriginalTopic)}); !errors.Is(err, ErrNotDeadLetter) {
		t.Fatalf("without the topic header: %v, want ErrNotDeadLetter", err)
	}
}

// FuzzParse feeds arbitrary header values to Parse: it must never panic,
// and what it accepts must be what the bytes say.
func FuzzParse(f *testing.F) {
	d := Build("dlt", original(), Failure{Reason: Quarantined, QuarantineOffset: 3, Attempts: 2})
	get := func(k string) []byte { v, _ := header.Get(d.Headers, k); return []byte(v) }
	f.Add([]byte("orders"), get(header.DLTOriginalPartition), get(header.DLTOriginalOffset), get(header.DLTOriginalTimestamp), []byte("2"), []byte("3"), []byte("1"), []byte("quarantined"))
	f.Add([]byte(""), []byte{1}, []byte{}, []byte{0xff}, []byte("-0"), []byte(""), []byte("+1"), []byte{0xc3})
	f.Fuzz(func(t *testing.T, topic, part, off, ts, attempts, qoff, redrives, reason []byte) {
		r := &kgo.Record{Headers: []kgo.RecordHeader{
			{Key: header.DLTOriginalTopic, Value: topic},
			{Key: header.DLTOriginalPartition, Value: part},
			{Key: header.DLTOriginalOffset, Value: off},
			{Key: header.DLTOriginalTimestamp, Value: ts},
			{Key: header.Attempts, Value: attempts},
			{Key: header.QuarantineOffset, Value: qoff},
			{Key: header.Redrives, Value: redrives},
			{Key: header.Reason, Value: reason},
		}}
		info, err := Parse(r)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not match ErrMalformed", err)
			}
			return
		}
		if len(part) != 4 || len(off) != 8 || len(ts) != 8 {
			t.Fatalf("accepted partition/offset/timestamp of %d/%d/%d bytes", len(part), len(off), len(ts))
		}
		if info.Attempts < 0 || info.Redrives < 0 || info.QuarantineOffset < 0 || info.Topic != string(topic) {
			t.Fatalf("accepted %+v", info)
		}
		Restore(r, info) // must not panic either
	})
}
