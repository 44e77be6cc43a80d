package dlq

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/internal/header"
)

// hdrs builds headers from name/value pairs; a nil value is written as
// Java writes a null header value.
func hdrs(kv ...string) []kgo.RecordHeader {
	var hs []kgo.RecordHeader
	for i := 0; i < len(kv); i += 2 {
		hs = append(hs, kgo.RecordHeader{Key: kv[i], Value: []byte(kv[i+1])})
	}
	return hs
}

// The dead letters the other tools write, header for header as their
// sources do (see foreign.go), with one header of the record's own.
var (
	streamsDL = hdrs("app", "1",
		"__streams.errors.exception", "org.apache.kafka.common.errors.SerializationException: Size of data received by IntegerDeserializer is not 4",
		"__streams.errors.message", "Size of data received by IntegerDeserializer is not 4",
		"__streams.errors.stacktrace", "org.apache.kafka.common.errors.SerializationException: ...\n\tat ...",
		"__streams.errors.topic", "clicks", "__streams.errors.partition", "2", "__streams.errors.offset", "4711")
	connectDL = hdrs("app", "2",
		"__connect.errors.topic", "customers", "__connect.errors.partition", "0", "__connect.errors.offset", "42",
		"__connect.errors.connector.name", "jdbc-sink", "__connect.errors.task.id", "0",
		"__connect.errors.stage", "VALUE_CONVERTER", "__connect.errors.class.name", "io.confluent.connect.avro.AvroConverter",
		"__connect.errors.exception.class.name", "org.apache.kafka.connect.errors.DataException",
		"__connect.errors.exception.message", "Failed to deserialize data for topic customers to Avro",
		"__connect.errors.exception.stacktrace", "org.apache.kafka.connect.errors.DataException: ...")
	shareDL = hdrs("app", "3",
		"__dlq.errors.topic", "payments", "__dlq.errors.partition", "1", "__dlq.errors.offset", "7",
		"__dlq.errors.group", "payers", "__dlq.errors.delivery.count", "5",
		"__dlq.errors.message", "Offset delivery count exceeded the threshold.")
)

// TestParseForeignFamilies protects the mapping of the other tools' dead
// letters onto Info: original topic, partition and offset, exception
// class and message (and a share group's group and delivery count), so
// that a topic fed by several tools lists and redrives as one.
func TestParseForeignFamilies(t *testing.T) {
	ts := time.UnixMilli(1700000000000)
	for _, tt := range []struct {
		name string
		hs   []kgo.RecordHeader
		want Info
	}{
		{"streams", streamsDL, Info{Family: FamilyStreams, Topic: "clicks", Partition: 2, Offset: 4711, Timestamp: ts,
			FQCN: "org.apache.kafka.common.errors.SerializationException", Message: "Size of data received by IntegerDeserializer is not 4"}},
		{"connect", connectDL, Info{Family: FamilyConnect, Topic: "customers", Partition: 0, Offset: 42, Timestamp: ts,
			FQCN: "org.apache.kafka.connect.errors.DataException", Message: "Failed to deserialize data for topic customers to Avro"}},
		{"share group", shareDL, Info{Family: FamilyShareGroup, Topic: "payments", Partition: 1, Offset: 7,
			Group: "payers", Attempts: 5, Message: "Offset delivery count exceeded the threshold."}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.want.QuarantineOffset, tt.want.OriginalSize, tt.want.OriginalKeySize = -1, -1, -1
			info, err := Parse(&kgo.Record{Key: []byte("k"), Timestamp: ts, Headers: tt.hs})
			if err != nil {
				t.Fatal(err)
			}
			if info != tt.want {
				t.Fatalf("got  %+v\nwant %+v", info, tt.want)
			}
			out := Restore(&kgo.Record{Key: []byte("k"), Headers: tt.hs}, info)
			if out.Topic != tt.want.Topic || len(out.Headers) != 2 || out.Headers[0].Key != "app" {
				t.Fatalf("restored to %q with headers %v; want the record's own header and ordo-redrives only", out.Topic, out.Headers)
			}
		})
	}
}

func TestParseForeignMalformed(t *testing.T) {
	for _, tt := range []struct {
		name   string
		hs     []kgo.RecordHeader
		header string
	}{
		{"punctuation: no input record", append(hdrs("__streams.errors.partition", "-1", "__streams.errors.offset", "-1"),
			kgo.RecordHeader{Key: "__streams.errors.topic"}), "__streams.errors.topic"},
		{"no offset", hdrs("__connect.errors.topic", "t", "__connect.errors.partition", "0"), "__connect.errors.offset"},
		{"binary partition", hdrs("__dlq.errors.topic", "t", "__dlq.errors.partition", "\x00\x00\x00\x01", "__dlq.errors.offset", "1"), "__dlq.errors.partition"},
		{"partition beyond int32", hdrs("__streams.errors.topic", "t", "__streams.errors.partition", "4294967296", "__streams.errors.offset", "1"), "__streams.errors.partition"},
		{"negative delivery count", hdrs("__dlq.errors.topic", "t", "__dlq.errors.partition", "1", "__dlq.errors.offset", "1", "__dlq.errors.delivery.count", "-1"), "__dlq.errors.delivery.count"},
		{"message not UTF-8", hdrs("__connect.errors.topic", "t", "__connect.errors.partition", "0", "__connect.errors.offset", "1", "__connect.errors.exception.message", "\xff"), "__connect.errors.exception.message"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(&kgo.Record{Headers: tt.hs})
			var he *HeaderError
			if !errors.As(err, &he) || !errors.Is(err, ErrMalformed) || he.Header != tt.header {
				t.Fatalf("Parse = %v; want a *HeaderError for %s", err, tt.header)
			}
		})
	}
	if _, err := Parse(&kgo.Record{Headers: hdrs("__streams.errors.message", "x")}); !errors.Is(err, ErrNotDeadLetter) {
		t.Fatalf("a record with no original topic header of any family: %v, want ErrNotDeadLetter", err)
	}
}

// TestMixedTopicListsAndRedrives: a dead-letter topic fed by ordo, Kafka
// Streams, Kafka Connect and a share group is listed by original topic
// (none counted as malformed) and redriven, each record to its original
// topic, without the failure headers of its family.
func TestMixedTopicListsAndRedrives(t *testing.T) {
	e := newEnv(t)
	e.deadLetter("orders", "o-1", Failure{Reason: Permanent, Err: errors.New("refused")})
	for _, f := range []struct {
		key, topic string
		hs         []kgo.RecordHeader
	}{{"s-1", "orders", streamsDL}, {"c-1", "payments", connectDL}, {"q-1", "payments", shareDL}} {
		hs := append([]kgo.RecordHeader(nil), f.hs...)
		for i, h := range hs { // each aimed at an existing topic
			switch h.Key {
			case streamsTopic, connectTopic, shareTopic:
				hs[i].Value = []byte(f.topic)
			}
		}
		e.produce(&kgo.Record{Topic: dlt, Key: []byte(f.key), Value: []byte("v-" + f.key), Headers: hs})
	}
	s, err := e.dlq.List(e.ctx, dlt)
	if err != nil {
		t.Fatal(err)
	}
	per := map[string]int{}
	families := map[Family]bool{}
	for _, g := range s.Groups {
		per[g.Topic] += g.Records
		families[g.Family] = true
	}
	if len(families) != 4 {
		t.Fatalf("list counts the families %v, want spring, streams, connect and share-group apart", families)
	}
	if s.Total != 4 || s.Malformed != 0 || per["orders"] != 2 || per["payments"] != 2 {
		t.Fatalf("list: %+v; want 4 dead letters, none malformed, 2 from orders and 2 from payments", s)
	}
	rep, err := e.dlq.Redrive(e.ctx, RedriveConfig{Topic: dlt, Group: "mixed"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Redriven != 4 || rep.Malformed != 0 || rep.ByTopic["orders"] != 2 || rep.ByTopic["payments"] != 2 {
		t.Fatalf("redrive: %+v; want all 4 republished", rep)
	}
	got := append(e.read("orders", 0, 2), e.read("payments", 0, 2)...)
	for _, r := range got {
		for _, h := range r.Headers {
			if isForeignHeader(h.Key) || strings.HasPrefix(h.Key, header.DLTPrefix) {
				t.Fatalf("%s/%s republished with failure header %s", r.Topic, r.Key, h.Key)
			}
		}
		if v := string(r.Value); v != "v-"+string(r.Key) && string(r.Key) != "o-1" {
			t.Fatalf("%s/%s republished with value %q", r.Topic, r.Key, v)
		}
	}
}

// FuzzParseForeign: whatever the bytes of another tool's headers, Parse
// returns nil or a *HeaderError, never panics, and what it accepts is a
// named topic with a partition and offset of -1 (unknown) or more.
func FuzzParseForeign(f *testing.F) {
	f.Add(uint8(0), []byte("payments"), []byte("1"), []byte("7"), []byte("5"), []byte("Offset rejected by client."))
	f.Add(uint8(1), []byte("clicks"), []byte("-1"), []byte("-1"), []byte(""), []byte("java.lang.Exception"))
	f.Add(uint8(2), []byte(""), []byte("+0"), []byte("9223372036854775808"), []byte("x"), []byte{0xff})
	f.Fuzz(func(t *testing.T, fam uint8, topic, part, off, count, msg []byte) {
		ff := foreignFamilies[int(fam)%len(foreignFamilies)]
		hs := []kgo.RecordHeader{{Key: ff.topic, Value: topic}, {Key: ff.partition, Value: part}, {Key: ff.offset, Value: off}, {Key: ff.message, Value: msg}}
		if ff.attempts != "" {
			hs = append(hs, kgo.RecordHeader{Key: ff.attempts, Value: count})
		}
		if ff.exception != "" {
			hs = append(hs, kgo.RecordHeader{Key: ff.exception, Value: msg})
		}
		r := &kgo.Record{Headers: hs}
		info, err := Parse(r)
		if err != nil {
			var he *HeaderError
			if !errors.As(err, &he) {
				t.Fatalf("error %v is not a *HeaderError", err)
			}
			return
		}
		if info.Family != ff.family || info.Topic == "" || info.Topic != string(topic) || info.Partition < -1 || info.Offset < -1 || info.Attempts < 0 {
			t.Fatalf("accepted %+v", info)
		}
		Restore(r, info)
	})
}
