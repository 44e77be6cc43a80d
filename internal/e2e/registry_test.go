//go:build integration

package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/ordo-go/ordo/internal/kafkatest"
	"github.com/ordo-go/ordo/producer"
	"github.com/ordo-go/ordo/schema"
)

// realRegistry returns the URL of the real registry the suite runs against
// (Apicurio in CI). These tests are about a real registry's verdicts, which
// srfake cannot give (it answers "compatible" to everything), so without
// one they fail rather than pass against a fake.
func realRegistry(t *testing.T) string {
	t.Helper()
	url := os.Getenv(kafkatest.RegistryEnv)
	if url == "" {
		t.Fatalf("%s is unset: these tests need a real Confluent-API registry (bash .ci/integration.sh starts Apicurio)", kafkatest.RegistryEnv)
	}
	return url
}

func rawRegistry(t *testing.T) *sr.Client {
	t.Helper()
	cl, err := sr.NewClient(sr.URLs(realRegistry(t)))
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func rec(fields ...string) string {
	return `{"type":"record","name":"Rec","namespace":"ordo.e2e.compat","fields":[` + strings.Join(fields, ",") + `]}`
}

const (
	fA        = `{"name":"a","type":"int"}`
	fALong    = `{"name":"a","type":"long"}`
	fB        = `{"name":"b","type":"string"}`
	fBDefault = `{"name":"b","type":"string","default":""}`
	fBBytes   = `{"name":"b","type":"bytes","default":""}`
	fBOpt     = `{"name":"b","type":["null","string"],"default":null}`
	fBAlias   = `{"name":"bee","type":"string","default":"","aliases":["b"]}`
	fE2       = `{"name":"e","type":{"type":"enum","name":"E","symbols":["X","Y"]}}`
	fE3       = `{"name":"e","type":{"type":"enum","name":"E","symbols":["X","Y","Z"]}}`
)

// compatCases are schema changes with the versions already registered
// (oldest first) and the candidate. The registry's verdict and ordo's
// local gate must agree on each, at every level.
var compatCases = []struct {
	name      string
	olds      []string
	candidate string
}{
	{"add field with default", []string{rec(fA)}, rec(fA, fBDefault)},
	{"add field without default", []string{rec(fA)}, rec(fA, fB)},
	{"remove field with default", []string{rec(fA, fBDefault)}, rec(fA)},
	{"remove field without default", []string{rec(fA, fB)}, rec(fA)},
	{"promote int to long", []string{rec(fA)}, rec(fALong)},
	{"demote long to int", []string{rec(fALong)}, rec(fA)},
	{"string to bytes", []string{rec(fA, fBDefault)}, rec(fA, fBBytes)},
	{"make field optional", []string{rec(fA, fBDefault)}, rec(fA, fBOpt)},
	{"rename field with alias", []string{rec(fA, fBDefault)}, rec(fA, fBAlias)},
	{"add enum symbol", []string{rec(fA, fE2)}, rec(fA, fE3)},
	{"remove enum symbol", []string{rec(fA, fE3)}, rec(fA, fE2)},
	{"transitive: required field only the latest has", []string{rec(fA), rec(fA, fBDefault)}, rec(fA, fB)},
	{"transitive: removed field only the first had", []string{rec(fA, fB), rec(fA, fB, `{"name":"c","type":"int","default":0}`)}, rec(fA, `{"name":"c","type":"int","default":0}`)},
}

var allLevels = []schema.Level{
	schema.Backward, schema.BackwardTransitive,
	schema.Forward, schema.ForwardTransitive,
	schema.Full, schema.FullTransitive,
}

// TestRegistryVerdictsAgree protects the local gate's promise: it refuses
// exactly what a real registry refuses. For every case and level the
// registry decides by accepting or refusing the registration, and ordo's
// schema.Check must say the same.
func TestRegistryVerdictsAgree(t *testing.T) {
	ctx := kafkatest.Bound(t, 3*time.Minute)
	cl := rawRegistry(t)
	run := time.Now().UnixNano()
	agree, total := 0, 0
	for _, tc := range compatCases {
		for _, level := range allLevels {
			total++
			subject := fmt.Sprintf("compat-%d-%s-%s", run, strings.ReplaceAll(tc.name, " ", "_"), level)
			registryOK := registryVerdict(ctx, t, cl, subject, level, tc.olds, tc.candidate)
			localErr := schema.Check(tc.olds, tc.candidate, level)
			if registryOK != (localErr == nil) {
				t.Errorf("%s under %s: registry compatible=%v, ordo's gate: %v", tc.name, level, registryOK, localErr)
				continue
			}
			agree++
		}
	}
	t.Logf("ordo's gate agrees with the registry on %d of %d (case, level) pairs", agree, total)
}

// registryVerdict registers olds under subject with checks off, sets the
// subject's level, and reports whether the registry then accepts candidate.
func registryVerdict(ctx context.Context, t *testing.T, cl *sr.Client, subject string, level schema.Level, olds []string, candidate string) bool {
	t.Helper()
	setLevel(ctx, t, cl, subject, sr.CompatNone)
	for _, old := range olds {
		if _, err := cl.CreateSchema(ctx, subject, sr.Schema{Schema: old}); err != nil {
			t.Fatalf("%s: register old version: %v", subject, err)
		}
	}
	var cl2 sr.CompatibilityLevel
	if err := cl2.UnmarshalText([]byte(level.String())); err != nil {
		t.Fatal(err)
	}
	setLevel(ctx, t, cl, subject, cl2)
	_, err := cl.CreateSchema(ctx, subject, sr.Schema{Schema: candidate})
	if err == nil {
		return true
	}
	var re *sr.ResponseError
	if errors.As(err, &re) && re.StatusCode == 409 {
		return false
	}
	t.Fatalf("%s: register candidate: %v", subject, err)
	return false
}

func setLevel(ctx context.Context, t *testing.T, cl *sr.Client, subject string, level sr.CompatibilityLevel) {
	t.Helper()
	for _, r := range cl.SetCompatibility(ctx, sr.SetCompatibility{Level: level}, subject) {
		if r.Err != nil {
			t.Fatalf("%s: set compatibility %s: %v", subject, level, r.Err)
		}
	}
}

// TestRegistryAloneRefusesBreakingChange protects the second line of
// defence: with ordo's local gate off, a real registry still refuses a
// breaking change, and ordo reports it as ErrIncompatible.
func TestRegistryAloneRefusesBreakingChange(t *testing.T) {
	ctx := kafkatest.Bound(t, time.Minute)
	reg, err := schema.NewRegistry([]string{realRegistry(t)}, schema.GateLevel(schema.None))
	if err != nil {
		t.Fatal(err)
	}
	subject := fmt.Sprintf("alone-%d-value", time.Now().UnixNano())
	setLevel(ctx, t, rawRegistry(t), subject, sr.CompatBackward)
	if _, err := reg.Register(ctx, subject, rec(fA)); err != nil {
		t.Fatal(err)
	}
	_, err = reg.Register(ctx, subject, rec(fA, fB)) // a required field old data lacks
	if !errors.Is(err, schema.ErrIncompatible) {
		t.Fatalf("breaking change with the local gate off: %v, want ErrIncompatible from the registry", err)
	}
	if _, err := reg.Register(ctx, subject, rec(fA, fBDefault)); err != nil {
		t.Fatalf("compatible change refused: %v", err)
	}
}

// TestRealRegistryIDsOnTheWire protects the wire format with IDs a real
// registry assigns: each record's frame names the ID the registry holds for
// the publisher's schema, and the registry serves that ID's schema back.
func TestRealRegistryIDsOnTheWire(t *testing.T) {
	ctx := kafkatest.Bound(t, 3*time.Minute)
	c := kafkatest.StartBroker(ctx, t)
	e := newEnv(ctx, t, c, 3, 1)
	e.reg = mustRegistry(t, realRegistry(t))
	p := e.producer()
	pub, err := producer.NewPublisher(ctx, p, e.topic, e.codec("WireStep"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		if _, err := pub.Publish(ctx, Step{Key: fmt.Sprintf("k%d", i%5), Seq: int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	subject := e.topic + "-value"
	ss, err := rawRegistry(t).SchemaByVersion(ctx, subject, -1)
	if err != nil {
		t.Fatalf("latest version of %s: %v", subject, err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Brokers()...), kgo.ConsumeTopics(e.topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	seen := 0
	for seen < 30 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read back %d of 30: %v", seen, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			seen++
			id, _, err := schema.Unframe(r.Value)
			if err != nil {
				t.Fatalf("offset %d: %v", r.Offset, err)
			}
			if id != ss.ID {
				t.Fatalf("offset %d framed with schema ID %d, registry holds %d for %s", r.Offset, id, ss.ID, subject)
			}
		})
	}
	w, err := e.reg.Writer(ctx, ss.ID)
	if err != nil || w.Name() != "ordo.e2e.WireStep" {
		t.Fatalf("writer schema %d: %v, %v", ss.ID, w, err)
	}
}

func mustRegistry(t *testing.T, url string) *schema.Registry {
	t.Helper()
	reg, err := schema.NewRegistry([]string{url})
	if err != nil {
		t.Fatal(err)
	}
	return reg
}
