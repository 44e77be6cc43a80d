package dlq

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestRedriveLargeRecord: a 5 MB record that its topic and the
// dead-letter topic both take (16 MiB limits) is redriven whole. Before,
// the redrive's client kept franz-go's 1,000,012-byte batch limit and the
// record failed MESSAGE_TOO_LARGE on every run.
func TestRedriveLargeRecord(t *testing.T) {
	e := newEnv(t)
	adm := kadm.NewClient(e.kcl)
	v := fmt.Sprint(16 << 20)
	if _, err := adm.AlterTopicConfigs(e.ctx, []kadm.AlterConfig{{Name: "max.message.bytes", Value: &v}}, "orders", dlt); err != nil {
		t.Fatal(err)
	}
	big, err := kgo.NewClient(kgo.SeedBrokers(e.cluster.Brokers()...), kgo.ProducerBatchMaxBytes(16<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer big.Close()
	value := bytes.Repeat([]byte{'v'}, 5_000_000)
	d := Build(dlt, &kgo.Record{Topic: "orders", Offset: 7, Key: []byte("k"), Value: value}, Failure{Reason: Permanent, Group: "svc"})
	if err := big.ProduceSync(e.ctx, d).FirstErr(); err != nil {
		t.Fatal(err)
	}
	rep, err := e.dlq.Redrive(e.ctx, RedriveConfig{Topic: dlt, Group: "large"})
	if err != nil || rep.Redriven != 1 {
		t.Fatalf("redrive: %+v, %v", rep, err)
	}
	if r := e.read("orders", 0, 1)[0]; !bytes.Equal(r.Value, value) {
		t.Fatalf("redriven value of %d bytes, want the 5 MB value", len(r.Value))
	}
}
