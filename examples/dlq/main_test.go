package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/consumer/dlq"
	"github.com/ordo-go/ordo/internal/embedded"
)

func cli(t *testing.T, ctx context.Context, args ...string) string {
	t.Helper()
	cfg, err := parseArgs(args, io.Discard)
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	var out bytes.Buffer
	if err := run(ctx, cfg, &out); err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out.String())
	}
	return out.String()
}

// TestCommands runs list, show and redrive against a cluster the way an
// operator would, with flags, and checks what they print.
func TestCommands(t *testing.T) {
	c, err := embedded.Start(embedded.Config{Brokers: 1, Topics: map[string]int32{"orders": 3, "payments": 1, demoDLT: 3}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := seed(ctx, c.Brokers(), c.RegistryURL()); err != nil {
		t.Fatal(err)
	}
	conn := []string{"-brokers", strings.Join(c.Brokers(), ","), "-topic", demoDLT}
	reg := []string{"-registry", c.RegistryURL()}

	out := cli(t, ctx, append([]string{"list"}, conn...)...)
	for _, want := range []string{"orders  ", "quarantined", "2  ", "payments", "unframe", "5 dead letters in orders.dlt"} {
		if !strings.Contains(out, want) {
			t.Fatalf("list output lacks %q:\n%s", want, out)
		}
	}

	out = cli(t, ctx, append([]string{"show", "-key", "order-1"}, append(reg, conn...)...)...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("show -key order-1 printed %d lines:\n%s", len(lines), out)
	}
	var first shown
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if string(first.Value) != `{"amount_cents":1250,"order_id":"order-1"}` || first.Original.Reason != "permanent" || first.Original.Offset != 10 || first.Original.Family != "spring" {
		t.Fatalf("first record shown as %s", lines[0])
	}
	if len(first.Headers) != 12 {
		t.Fatalf("first record shows %d headers, want all 12", len(first.Headers))
	}

	out = cli(t, ctx, append([]string{"show", "-key", "order-1", "-format", "text"}, append(reg, conn...)...)...)
	blocks := strings.Split(strings.TrimSpace(out), "\n\n")
	if len(blocks) != 4 || !strings.HasSuffix(out, "3 dead letters shown\n") {
		t.Fatalf("show -format text printed %d blocks, want 3 records and the count:\n%s", len(blocks), out)
	}
	for _, want := range []string{
		"\n  from     orders[0]@10  (written ", ", group fulfilment)\n",
		"\n  reason   permanent at handle, 1 attempt\n",
		"\n  error    *errors.errorString: payment refused: card expired\n",
		"\n  headers  ordo-type: com.example.orders.OrderPaid\n",
		"\n           kafka_dlt-original-offset: 10\n",
		"\n  value    {\"amount_cents\":1250,\"order_id\":\"order-1\"}",
	} {
		if !strings.Contains(blocks[0], want) {
			t.Fatalf("show -format text: the first block lacks %q:\n%s", want, blocks[0])
		}
	}
	if !strings.Contains(blocks[1], "\n  reason   quarantined at quarantine, behind offset 10\n") {
		t.Fatalf("show -format text: the second block:\n%s", blocks[1])
	}
	out = cli(t, ctx, append([]string{"show", "-original-topic", "payments", "-format", "text"}, append(reg, conn...)...)...)
	if !strings.Contains(out, "reason   unframe at unframe (unreadable") || !strings.Contains(out, "  value    8 bytes, not decoded (") {
		t.Fatalf("show -format text of the unreadable record:\n%s", out)
	}

	// Redrive leaves the record no consumer can read, unless asked.
	all := append([]string{"redrive", "-group", "ops-0", "-dry-run"}, conn...)
	if out = cli(t, ctx, all...); !strings.Contains(out, "would redrive 4, lifting 2 quarantine chains; filtered out 0, unreadable 1,") ||
		!strings.Contains(out, "left 1 their consumer could not read") {
		t.Fatalf("dry run over everything: %s", out)
	}
	if out = cli(t, ctx, append(all, "-include-unreadable")...); !strings.Contains(out, "would redrive 5, lifting 3 quarantine chains; filtered out 0, unreadable 0,") {
		t.Fatalf("dry run with -include-unreadable: %s", out)
	}

	redrive := append([]string{"redrive", "-group", "ops-1", "-original-topic", "orders", "-rate", "1000"}, conn...)
	out = cli(t, ctx, append(redrive, "-dry-run")...)
	if !strings.Contains(out, "would redrive 4, lifting 2") {
		t.Fatalf("dry run: %s", out)
	}
	out = cli(t, ctx, redrive...)
	if !strings.Contains(out, "redrove 4, lifting 2 quarantine chains; filtered out 1") {
		t.Fatalf("redrive: %s", out)
	}
	out = cli(t, ctx, redrive...)
	if !strings.Contains(out, "read 0 dead letters") {
		t.Fatalf("second redrive with the same group: %s", out)
	}
}

func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out := cli(t, ctx, "list", "-demo")
	if !strings.Contains(out, "5 dead letters") {
		t.Fatalf("demo list: %s", out)
	}
}

func TestArgs(t *testing.T) {
	t.Setenv("ORDO_BROKERS", "")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "usage"},
		{[]string{"purge"}, "unknown command"},
		{[]string{"list", "-topic", "x"}, "needs a Kafka cluster"},
		{[]string{"redrive", "-brokers", "127.0.0.1:9092", "-topic", "x"}, "needs -group"},
		{[]string{"show", "-demo", "-reason", "bogus"}, `unknown reason "bogus"`},
		{[]string{"show", "-demo", "-from", "yesterday"}, "-from"},
		{[]string{"list", "-demo", "-brokers", "127.0.0.1:9092"}, "drop -brokers"},
	} {
		_, err := parseArgs(tc.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}

// TestFlagsPerCommand protects each command's -h: it lists the command's
// own flags and no other command's, and a flag of another command is
// refused.
func TestFlagsPerCommand(t *testing.T) {
	common := []string{"brokers", "topic", "demo"}
	filters := []string{"original-topic", "key", "reason", "from", "to"}
	own := map[string][]string{
		"list":    common,
		"show":    append(append([]string{"registry", "limit", "format"}, common...), filters...),
		"redrive": append(append([]string{"group", "rate", "dry-run", "max-redrives", "include-unreadable"}, common...), filters...),
	}
	all := map[string]bool{}
	for _, fs := range own {
		for _, f := range fs {
			all[f] = true
		}
	}
	for cmd, flags := range own {
		t.Run(cmd, func(t *testing.T) {
			var help bytes.Buffer
			if _, err := parseArgs([]string{cmd, "-h"}, &help); !errors.Is(err, flag.ErrHelp) {
				t.Fatalf("-h: %v", err)
			}
			listed := regexp.MustCompile(`(?m)^  -([a-z-]+)`).FindAllStringSubmatch(help.String(), -1)
			var got []string
			for _, m := range listed {
				got = append(got, m[1])
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(flags))
			if !slices.Equal(got, want) {
				t.Fatalf("dlq %s -h lists %v, want %v:\n%s", cmd, got, want, help.String())
			}
			for f := range all {
				if slices.Contains(flags, f) {
					continue
				}
				if _, err := parseArgs([]string{cmd, "-demo", "-" + f, "x"}, io.Discard); err == nil || !strings.Contains(err.Error(), "flag provided but not defined") {
					t.Fatalf("dlq %s -%s: %v, want it refused", cmd, f, err)
				}
			}
		})
	}
}

// TestErrorSaysDlqOnce protects the line the command prints for a
// failure: "dlq: " once, whether the error is the library's (which says
// it already) or the command's own.
func TestErrorSaysDlqOnce(t *testing.T) {
	c, err := embedded.Start(embedded.Config{Brokers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, err := parseArgs([]string{"list", "-brokers", strings.Join(c.Brokers(), ","), "-topic", "ordrs.dlt"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	err = run(ctx, cfg, io.Discard)
	if line := errorLine(err); !strings.HasPrefix(line, `dlq: topic "ordrs.dlt" does not exist`) || strings.Count(line, "dlq:") != 1 {
		t.Fatalf("printed %q, want one dlq: and the missing topic named", line)
	}
	_, err = parseArgs([]string{"purge"}, io.Discard)
	if line := errorLine(err); !strings.HasPrefix(line, `dlq: unknown command "purge"`) {
		t.Fatalf("printed %q", line)
	}
}

// TestTextForeign: show's block for another tool's dead letter names the
// tool and its error, and says why the value is not decoded.
func TestTextForeign(t *testing.T) {
	var b bytes.Buffer
	writeText(&b, "mixed.dlt", dlq.Entry{Partition: 1, Offset: 9, Key: []byte("c-1"), Raw: []byte("v1"), ValueError: "no registry",
		Info: dlq.Info{Family: dlq.FamilyStreams, Topic: "clicks", Partition: 2, Offset: 4711, QuarantineOffset: -1,
			FQCN: "org.apache.kafka.common.errors.SerializationException", Message: "Size of data received is not 4"},
		Headers: []kgo.RecordHeader{{Key: "__streams.errors.topic", Value: []byte("clicks")}}})
	want := `mixed.dlt[1]@9  dead-lettered -  key "c-1"
  from     clicks[2]@4711  (dead-lettered by streams)
  error    org.apache.kafka.common.errors.SerializationException: Size of data received is not 4
  headers  __streams.errors.topic: clicks
  value    2 bytes, not decoded (no registry): v1

`
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}
