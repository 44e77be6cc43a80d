package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

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
	conn := []string{"-brokers", strings.Join(c.Brokers(), ","), "-registry", c.RegistryURL(), "-topic", demoDLT}

	out := cli(t, ctx, append([]string{"list"}, conn...)...)
	for _, want := range []string{"orders  ", "quarantined", "2  ", "payments", "unframe", "5 dead letters in orders.dlt"} {
		if !strings.Contains(out, want) {
			t.Fatalf("list output lacks %q:\n%s", want, out)
		}
	}

	out = cli(t, ctx, append([]string{"show", "-key", "order-1"}, conn...)...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("show -key order-1 printed %d lines:\n%s", len(lines), out)
	}
	var first shown
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if string(first.Value) != `{"amount_cents":1250,"order_id":"order-1"}` || first.Original.Reason != "permanent" || first.Original.Offset != 10 {
		t.Fatalf("first record shown as %s", lines[0])
	}
	if len(first.Headers) != 12 {
		t.Fatalf("first record shows %d headers, want all 12", len(first.Headers))
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
