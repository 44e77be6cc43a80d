package client_test

import (
	"context"
	"crypto/tls"
	"errors"
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordo-go/ordo/consumer"
	"github.com/ordo-go/ordo/consumer/dlq"
	"github.com/ordo-go/ordo/internal/client"
	"github.com/ordo-go/ordo/producer"
	"github.com/ordo-go/ordo/schema"
)

// bad is one bad value of a shared setting, as every role is given it.
// The fields are the role-neutral ingredients; each role turns them into
// its own options.
type bad struct {
	name      string
	noBrokers bool
	brokers   []string
	nilTLS    bool
	nilSASL   bool
	nilReg    bool
	nilLog    bool
	nilKgoOpt bool
	nilTracer bool // the telemetry settings: producer and consumer only
	nilMeter  bool
	nilProp   bool
	want      string // the one problem New reports, after the role's ErrInvalidConfig
}

var bads = []bad{
	{name: "no brokers", noBrokers: true, want: "no brokers: use Brokers"},
	{name: "broker without a port", brokers: []string{"127.0.0.1"}, want: `broker "127.0.0.1": not host:port: use Brokers`},
	{name: "port out of range", brokers: []string{"127.0.0.1:99999"}, want: `broker "127.0.0.1:99999": port "99999" is not a number from 1 to 65535: use Brokers`},
	{name: "nil TLS", nilTLS: true, want: "TLS: nil *tls.Config"},
	{name: "nil SASL", nilSASL: true, want: "SASL: nil mechanism"},
	{name: "nil registry", nilReg: true, want: "Registry: nil registry"},
	{name: "nil logger", nilLog: true, want: "WithLogger: nil logger or handler"},
	{name: "nil kgo option", nilKgoOpt: true, want: "KgoOpts: option 1 is nil"},
	{name: "nil tracer provider", nilTracer: true, want: "WithTracerProvider: nil provider"},
	{name: "nil meter provider", nilMeter: true, want: "WithMeterProvider: nil provider"},
	{name: "nil propagator", nilProp: true, want: "WithPropagator: nil propagator"},
}

func (b bad) telemetry() bool { return b.nilTracer || b.nilMeter || b.nilProp }

// tele returns b's telemetry settings as options of one role.
func tele[O any](b bad, tracer func(trace.TracerProvider) O, meter func(metric.MeterProvider) O,
	prop func(propagation.TextMapPropagator) O,
) []O {
	var opts []O
	if b.nilTracer {
		opts = append(opts, tracer(nil))
	}
	if b.nilMeter {
		opts = append(opts, meter(nil))
	}
	if b.nilProp {
		opts = append(opts, prop(nil))
	}
	return opts
}

// role builds one role from b and returns New's error and the role's
// ErrInvalidConfig.
type role struct {
	name    string
	dir     string // the package's directory, from here
	sentinl error
	tel     bool // has the telemetry settings (client.TelemetryNames)
	build   func(t *testing.T, reg *schema.Registry, b bad) error
}

func brokersOf(b bad) []string {
	switch {
	case b.noBrokers:
		return nil
	case b.brokers != nil:
		return b.brokers
	}
	return []string{"127.0.0.1:1"}
}

// shared returns b as options of one role, through that role's own
// option functions (o adapts them to a common type).
func shared[O any](b bad, reg *schema.Registry,
	brokers func(...string) O, tlsOpt func(*tls.Config) O, saslNil func() O,
	registry func(*schema.Registry) O, logger func(*slog.Logger) O, kopts func(...kgo.Opt) O,
) []O {
	var opts []O
	if bs := brokersOf(b); bs != nil {
		opts = append(opts, brokers(bs...))
	}
	if b.nilTLS {
		opts = append(opts, tlsOpt(nil))
	}
	if b.nilSASL {
		opts = append(opts, saslNil())
	}
	opts = append(opts, registry(reg))
	if b.nilReg {
		opts = append(opts, registry(nil))
	}
	if b.nilLog {
		opts = append(opts, logger(nil))
	}
	if b.nilKgoOpt {
		opts = append(opts, kopts(kgo.ClientID("x"), nil))
	}
	return opts
}

type step struct {
	ID string `avro:"id"`
}

func (s step) PartitionKey() []byte { return []byte(s.ID) }

const stepSchema = `{"type":"record","name":"Step","namespace":"test","fields":[{"name":"id","type":"string"}]}`

var roles = []role{
	{"producer", "../../producer", producer.ErrInvalidConfig, true, func(t *testing.T, reg *schema.Registry, b bad) error {
		opts := shared(b, reg, producer.Brokers, producer.TLS, func() producer.Option { return producer.SASL(nil) },
			producer.Registry, producer.WithLogger, producer.KgoOpts)
		opts = append(opts, tele(b, producer.WithTracerProvider, producer.WithMeterProvider, producer.WithPropagator)...)
		p, err := producer.New(opts...)
		if err == nil {
			p.Close()
		}
		return err
	}},
	{"consumer", "../../consumer", consumer.ErrInvalidConfig, true, func(t *testing.T, reg *schema.Registry, b bad) error {
		codec, err := schema.NewCodec[step](stepSchema)
		if err != nil {
			t.Fatal(err)
		}
		opts := shared(b, reg, consumer.Brokers, consumer.TLS, func() consumer.Option { return consumer.SASL(nil) },
			consumer.Registry, consumer.WithLogger, consumer.KgoOpts)
		opts = append(opts, tele(b, consumer.WithTracerProvider, consumer.WithMeterProvider, consumer.WithPropagator)...)
		opts = append(opts, consumer.Group("g"), consumer.Topics("t"),
			consumer.On(codec, func(context.Context, step, consumer.Meta) error { return nil }))
		c, err := consumer.New(opts...)
		if err == nil {
			c.Close()
		}
		return err
	}},
	{"dlq", "../../consumer/dlq", dlq.ErrInvalidConfig, false, func(t *testing.T, reg *schema.Registry, b bad) error {
		opts := shared(b, reg, dlq.Brokers, dlq.TLS, func() dlq.Option { return dlq.SASL(nil) },
			dlq.Registry, dlq.WithLogger, dlq.KgoOpts)
		c, err := dlq.New(opts...)
		if err == nil {
			c.Close()
		}
		return err
	}},
}

// TestSharedOptionsRejectAlike protects one validation for the shared
// settings: every role refuses the same bad value with the same message,
// wrapped in its own ErrInvalidConfig. Before the settings had one home,
// the roles said "no schema registry" or "no registry", refused a nil
// kgo option or let it through, and dlq took a nil registry silently.
func TestSharedOptionsRejectAlike(t *testing.T) {
	reg, err := schema.NewRegistry([]string{"http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bads {
		for _, r := range roles {
			if b.telemetry() && !r.tel {
				continue // dlq's Client has no telemetry settings
			}
			t.Run(b.name+"/"+r.name, func(t *testing.T) {
				err := r.build(t, reg, b)
				if !errors.Is(err, r.sentinl) {
					t.Fatalf("New = %v, want %v", err, r.sentinl)
				}
				var got []string
				for _, line := range strings.Split(err.Error(), "\n") {
					got = append(got, strings.TrimPrefix(line, r.sentinl.Error()+": "))
				}
				if len(got) != 1 || got[0] != b.want {
					t.Fatalf("New reported %q, want just %q", got, b.want)
				}
			})
		}
	}
}

// TestSharedOptionsDocs protects one name and one text per setting: what
// `go doc` lists for each role holds a func of every name in client.Names
// (and, for the producer and the consumer, client.TelemetryNames),
// each opening with client.Docs' text word for word. The names had drifted
// (producer.ClientLogLevel, consumer.KgoLogLevel, none in dlq).
func TestSharedOptionsDocs(t *testing.T) {
	for _, r := range roles {
		t.Run(r.name, func(t *testing.T) {
			funcs := exportedFuncs(t, r.dir)
			names := client.Names
			if r.tel {
				names = append(names[:len(names):len(names)], client.TelemetryNames...)
			}
			for _, name := range names {
				d, ok := funcs[name]
				if !ok {
					t.Errorf("%s has no %s", r.name, name)
					continue
				}
				if want := words(client.Docs[name]); !strings.HasPrefix(words(d), want) {
					t.Errorf("%s.%s's doc does not open with the shared text:\n got %s\nwant %s", r.name, name, words(d), want)
				}
			}
		})
	}
}

// exportedFuncs returns the package-level funcs of the package in dir
// (test files left out), with their doc comments, as go doc shows them.
func exportedFuncs(t *testing.T, dir string) map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	if len(files) == 0 {
		t.Fatalf("no Go files in %s", dir)
	}
	p, err := doc.NewFromFiles(fset, files, "x")
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]string)
	for _, f := range p.Funcs {
		out[f.Name] = f.Doc
	}
	for _, typ := range p.Types {
		for _, f := range typ.Funcs { // constructors grouped under their result type
			out[f.Name] = f.Doc
		}
	}
	return out
}

func words(s string) string { return strings.Join(strings.Fields(s), " ") }
