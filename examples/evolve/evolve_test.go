package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ordo-go/ordo/consumer"
	"github.com/ordo-go/ordo/schema"
	"github.com/ordo-go/ordo/schema/schematest"
)

// TestSchemaEvolvesCompatibly is the test a service keeps beside its
// schema files: the next version must be BACKWARD compatible with the
// earlier ones (v2's readers read v1 records), checked in go test, before
// any registry sees it. It is what fails the build on a breaking change
// (TestBreakingChangeFailsTheTest shows it failing).
func TestSchemaEvolvesCompatibly(t *testing.T) {
	schematest.AssertCompatibleWithFiles(t, []string{"schemas/order_v1.avsc"}, orderV2, schema.Backward)

	// The same against what a registry holds: here the test kit's fake
	// registry with v1 registered. ordo's local gate runs either way.
	reg := schematest.NewRegistry(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := reg.Register(ctx, "orders-value", orderV1); err != nil {
		t.Fatal(err)
	}
	schematest.AssertCompatible(t, reg, "orders-value", orderV2, schema.Backward)
}

// recorder is a testing.TB that records failures instead of failing the
// test, to show what the check reports on a breaking change without
// failing this suite. Only the methods schematest calls are overridden.
type recorder struct {
	testing.TB
	failed bool
	msgs   []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.failed = true
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatalf(format string, args ...any) { r.Errorf(format, args...) }

// TestBreakingChangeFailsTheTest protects the promise the check makes: a
// schema change that breaks the earlier versions fails the service's go
// test, naming the field, against the schema files and against a
// registry. The fake registry itself would take the change (srfake
// answers "compatible" to anything); ordo's local gate fails it anyway.
func TestBreakingChangeFailsTheTest(t *testing.T) {
	reg := schematest.NewRegistry(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, avsc := range []string{orderV1, orderV2} {
		if _, err := reg.Register(ctx, "orders-value", avsc); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		name, avsc, want string
	}{
		{"field without default", breakingRequired, "reader field warehouse is missing in writer schema and has no default"},
		{"type change", breakingRetyped, "field cents: reader schema string not compatible with writer schema long"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			files := &recorder{TB: t}
			schematest.AssertCompatibleWithFiles(files, []string{"schemas/order_v*.avsc"}, tt.avsc, schema.Backward)
			registry := &recorder{TB: t}
			schematest.AssertCompatible(registry, reg, "orders-value", tt.avsc, schema.Backward)
			for name, r := range map[string]*recorder{"files": files, "registry": registry} {
				if !r.failed || !strings.Contains(strings.Join(r.msgs, "\n"), tt.want) {
					t.Errorf("%s: the check reported %q (failed %v), want a failure naming %q", name, r.msgs, r.failed, tt.want)
				}
			}
			t.Logf("what a service's go test prints: %s", files.msgs)
		})
	}
}

// TestRun runs the story on the embedded cluster and holds its summary to
// what the README tells: v2 deployed to half, each reader reads the other
// version's records, nothing is lost or fails to decode, and both breaking
// changes are refused by ordo's gate although the registry (srfake) calls
// them compatible.
func TestRun(t *testing.T) {
	cfg, err := parseFlags([]string{"-orders", "200"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, cfg, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		`\nphase 2: v2 .* deployed to half`,
		`\n  a new field without a default .*:\n    producer: register .*: schema: incompatible with subject "orders-value" version 2 under BACKWARD: .*reader field warehouse is missing in writer schema and has no default.*\n    \(the registry's own check answered: compatible\)\n`,
		`\n  a type change .*:\n    .*field cents: reader schema string not compatible with writer schema long.*\n    \(the registry's own check answered: compatible\)\n`,
		`\nsubject "orders-value" holds 2 versions `,
		`\npublished 800 orders: 600 with v1, 200 with v2\n`,
		`\nv1 readers .* read \d+ v1 records and [1-9]\d* v2 records`,
		`\nv2 reader .* read [1-9]\d* v1 records \(tags defaulted to \[\] in [1-9]\d*\) and \d+ v2 records\n`,
		`\nlost 0 \(of 800 orders published by this run\)\n`,
		`\ndecode failures 0\n$`,
	} {
		if !regexp.MustCompile(want).Match(out.Bytes()) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestLossFails protects the exit code: an order acknowledged without
// being recorded is counted lost, named, and the command exits 1.
func TestLossFails(t *testing.T) {
	cfg, err := parseFlags([]string{"-orders", "50"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg.loseOrder, cfg.wait = "a-1-00007", 3*time.Second
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	err = run(ctx, cfg, &out)
	if err == nil || !strings.Contains(err.Error(), "1 orders lost, e.g. a-1-00007") {
		t.Errorf("run: %v, want the lost order named\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "\nlost 1 (of 200 orders published by this run)\n") {
		t.Errorf("summary does not count the lost order:\n%s", out.String())
	}
}

// TestWrongDefaultIsADecodeFailure protects the decode check: a v2 reader
// that got tags for a v1 record (not the default) is a failure.
func TestWrongDefaultIsADecodeFailure(t *testing.T) {
	tl := newTally()
	tl.expect("p", 1, []OrderV2{{OrderID: "o", Cents: 1}})
	tl.read(2, consumer.Meta{Producer: "p"}, OrderV2{OrderID: "o", Cents: 1, Tags: []string{"x"}})
	if len(tl.failures) != 1 || !strings.Contains(tl.failures[0], "want the default []") {
		t.Errorf("failures %q, want one naming the default", tl.failures)
	}
}

// TestExitCodes protects -h (0) and bad flags (2).
func TestExitCodes(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want int
	}{
		{[]string{"-h"}, 0},
		{[]string{"-partitions", "1"}, 2},
		{[]string{"-brokers", "127.0.0.1:9092"}, 2},
	} {
		if got := mainCode(tt.args, io.Discard, io.Discard); got != tt.want {
			t.Errorf("%q: exit %d, want %d", tt.args, got, tt.want)
		}
	}
}
