//go:build integration

package witness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/internal/kafkatest"
	"github.com/ordo-go/ordo/partition"
	"github.com/ordo-go/ordo/producer"
	"github.com/ordo-go/ordo/schema"
)

type Shipment struct {
	Order string `avro:"order"`
	Step  int64  `avro:"step"`
	Note  string `avro:"note"`
}

func (s Shipment) PartitionKey() string { return s.Order }

const shipmentAvsc = `{"type":"record","name":"Shipment","namespace":"ordo.witness","fields":[
	{"name":"order","type":"string"},{"name":"step","type":"long"},{"name":"note","type":"string"}]}`

// seen is one record as a reader saw it, bytes compared exactly.
type seen struct {
	partition int32
	offset    int64
	key       string
	value     string
	headers   string // "k=v,k=v" in order
}

// TestForeignReadersReadOrdo protects "every client language": records that
// ordo's typed publisher writes, framed with IDs from the real registry the
// suite runs against, are read by the Java client and by kcat (librdkafka)
// with the same key, partition, value bytes and headers that ordo wrote,
// and each frame names the schema the registry holds for the subject.
func TestForeignReadersReadOrdo(t *testing.T) {
	ctx := kafkatest.Bound(t, 5*time.Minute)
	c := kafkatest.StartBroker(ctx, t)
	topic := fmt.Sprintf("witness-readers-%d", time.Now().UnixNano())
	const parts = 5
	if _, err := c.Admin(t).CreateTopic(ctx, parts, 1, nil, topic); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	reg, err := schema.NewRegistry([]string{kafkatest.RegistryURL(t)})
	if err != nil {
		t.Fatal(err)
	}
	codec, err := schema.NewCodec[Shipment](shipmentAvsc)
	if err != nil {
		t.Fatal(err)
	}
	p, err := producer.New(producer.Brokers(c.Brokers()...), producer.Registry(reg))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	pub, err := producer.NewPublisher(ctx, p, topic, codec)
	if err != nil {
		t.Fatal(err)
	}
	keys := witnessKeys(40)
	const n = 160
	for i := range n {
		ev := Shipment{Order: keys[i%len(keys)], Step: int64(i / len(keys)), Note: strings.Repeat("é", i%7)}
		if _, err := pub.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}

	want := readWithKgo(ctx, t, c, topic, n)
	for _, r := range want {
		if p := partition.For([]byte(r.key), parts); int(r.partition) != p {
			t.Fatalf("key %q on partition %d, partition.For says %d", r.key, r.partition, p)
		}
		id, _, err := schema.Unframe([]byte(r.value))
		if err != nil {
			t.Fatalf("%d@%d: %v", r.partition, r.offset, err)
		}
		w, err := reg.Writer(ctx, id)
		if err != nil || w.Name() != "ordo.witness.Shipment" {
			t.Fatalf("%d@%d: schema ID %d: %v %v", r.partition, r.offset, id, w, err)
		}
	}

	t.Run("java", func(t *testing.T) {
		compareReads(t, "the Java client", want, readWithJava(ctx, t, c.Brokers()[0], topic))
	})
	t.Run("kcat", func(t *testing.T) {
		compareReads(t, "kcat", want, readWithKcat(ctx, t, c.Brokers()[0], topic, n))
	})
}

func compareReads(t *testing.T, who string, want, got []seen) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s read %d records, ordo wrote %d", who, len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%s read\n%+v\nordo wrote\n%+v", who, got[i], want[i])
		}
	}
	t.Logf("%s read all %d records byte for byte", who, len(want))
}

func sortSeen(s []seen) {
	sort.Slice(s, func(i, j int) bool {
		if s[i].partition != s[j].partition {
			return s[i].partition < s[j].partition
		}
		return s[i].offset < s[j].offset
	})
}

func readWithKgo(ctx context.Context, t *testing.T, c *kafkatest.Cluster, topic string, n int) []seen {
	t.Helper()
	cl := c.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var out []seen
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d: %v", len(out), n, ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) {
			hs := make([]string, len(r.Headers))
			for i, h := range r.Headers {
				hs[i] = h.Key + "=" + string(h.Value)
			}
			out = append(out, seen{r.Partition, r.Offset, string(r.Key), string(r.Value), strings.Join(hs, ",")})
		})
	}
	sortSeen(out)
	return out
}

func readWithJava(ctx context.Context, t *testing.T, broker, topic string) []seen {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "java", "read.sh")
	cmd := exec.CommandContext(ctx, "bash", script, broker, topic)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("java ReadTopic: %v\n%s", err, stderr.String())
	}
	var got []seen
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 5 {
			t.Fatalf("java line %q: want 5 fields", sc.Text())
		}
		p, _ := strconv.Atoi(f[0])
		o, _ := strconv.ParseInt(f[1], 10, 64)
		var hs []string
		if f[4] != "" {
			for _, kv := range strings.Split(f[4], ",") {
				k, v, _ := strings.Cut(kv, "=")
				hs = append(hs, k+"="+unb64(t, v))
			}
		}
		got = append(got, seen{int32(p), o, unb64(t, f[2]), unb64(t, f[3]), strings.Join(hs, ",")})
	}
	sortSeen(got)
	return got
}

func unb64(t *testing.T, s string) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("base64 %q: %v", s, err)
	}
	return string(b)
}

// readWithKcat reads the topic with kcat. Keys and values are raw bytes
// (NUL and newline included), so each is printed after its length and cut
// out exactly.
func readWithKcat(ctx context.Context, t *testing.T, broker, topic string, n int) []seen {
	t.Helper()
	// %K and %S are the key and value lengths; %h lists the headers as
	// k=v,k=v.
	raw := kcat(ctx, t, nil, "-C", "-b", broker, "-t", topic, "-o", "beginning", "-e", "-c", strconv.Itoa(n),
		"-f", "%p|%o|%K|%k|%S|%s|%h\n")
	var got []seen
	for len(raw) > 0 {
		var r seen
		var f string
		f, raw = cut(t, raw, '|')
		p, _ := strconv.Atoi(f)
		r.partition = int32(p)
		f, raw = cut(t, raw, '|')
		r.offset, _ = strconv.ParseInt(f, 10, 64)
		f, raw = cut(t, raw, '|')
		kl, _ := strconv.Atoi(f)
		r.key, raw = string(raw[:kl]), raw[kl+1:]
		f, raw = cut(t, raw, '|')
		vl, _ := strconv.Atoi(f)
		r.value, raw = string(raw[:vl]), raw[vl+1:]
		f, raw = cut(t, raw, '\n') // ordo's headers are printable text
		r.headers = f
		got = append(got, r)
	}
	sortSeen(got)
	return got
}

func cut(t *testing.T, b []byte, sep byte) (string, []byte) {
	t.Helper()
	i := bytes.IndexByte(b, sep)
	if i < 0 {
		t.Fatalf("kcat output: no %q in %q", sep, b[:min(len(b), 80)])
	}
	return string(b[:i]), b[i+1:]
}
