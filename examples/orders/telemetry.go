package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	promexp "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// tracedOrders is how many orders are traced with -trace: every event of
// those orders, from the service's publish to the consumer's handler.
const tracedOrders = 2

// rootPrefix names the root span the order service opens for a traced
// order's event; the sampler keeps those roots and everything under them.
const rootPrefix = "order "

// observability installs OpenTelemetry SDK providers as the globals, which
// ordo's producer and consumer use by default. It returns a function that
// flushes and prints what was collected.
func observability(cfg config, out io.Writer) (shutdown func(context.Context) error, err error) {
	otel.SetTextMapPropagator(propagation.TraceContext{})
	var closers []func(context.Context) error
	if cfg.trace || cfg.traceJSON {
		var exp sdktrace.SpanExporter
		tree := &treeExporter{}
		exp = tree
		if cfg.traceJSON {
			if exp, err = stdouttrace.New(stdouttrace.WithWriter(out), stdouttrace.WithPrettyPrint()); err != nil {
				return nil, err
			}
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(rootSampler{}), sdktrace.WithSyncer(exp))
		otel.SetTracerProvider(tp)
		closers = append(closers, func(ctx context.Context) error {
			err := tp.Shutdown(ctx)
			if !cfg.traceJSON {
				tree.print(out)
			}
			return err
		})
	}
	if cfg.metricsAddr != "" {
		reg := prometheus.NewRegistry()
		exp, err := promexp.New(promexp.WithRegisterer(reg))
		if err != nil {
			return nil, err
		}
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
		otel.SetMeterProvider(mp)
		ln, err := net.Listen("tcp", cfg.metricsAddr)
		if err != nil {
			return nil, err
		}
		srv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(ln)
		fmt.Fprintf(out, "serving metrics at http://%s/metrics\n", ln.Addr())
		closers = append(closers, srv.Shutdown, mp.Shutdown)
	}
	return func(ctx context.Context) error {
		var errs []error
		for _, c := range closers {
			errs = append(errs, c(ctx))
		}
		return errors.Join(errs...)
	}, nil
}

// rootSampler samples the order service's root spans for traced orders and
// every span under a sampled parent; nothing else is recorded.
type rootSampler struct{}

func (rootSampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	psc := trace.SpanContextFromContext(p.ParentContext)
	decision := sdktrace.Drop
	if psc.IsValid() && psc.IsSampled() || !psc.IsValid() && strings.HasPrefix(p.Name, rootPrefix) {
		decision = sdktrace.RecordAndSample
	}
	return sdktrace.SamplingResult{Decision: decision, Tracestate: psc.TraceState()}
}

func (rootSampler) Description() string { return "ordo example: traced orders only" }

// treeExporter keeps finished spans and prints them as trees.
type treeExporter struct {
	mu    sync.Mutex
	spans []sdktrace.ReadOnlySpan
}

func (e *treeExporter) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.spans = append(e.spans, spans...)
	return nil
}

func (e *treeExporter) Shutdown(context.Context) error { return nil }

func (e *treeExporter) print(w io.Writer) {
	e.mu.Lock()
	defer e.mu.Unlock()
	children := make(map[trace.SpanID][]sdktrace.ReadOnlySpan)
	var roots []sdktrace.ReadOnlySpan
	for _, s := range e.spans {
		if s.Parent().IsValid() {
			children[s.Parent().SpanID()] = append(children[s.Parent().SpanID()], s)
		} else {
			roots = append(roots, s)
		}
	}
	sort.Slice(roots, func(i, j int) bool { return roots[i].StartTime().Before(roots[j].StartTime()) })
	for _, r := range roots {
		fmt.Fprintf(w, "trace %s\n", r.SpanContext().TraceID())
		printSpan(w, r, children, 1)
	}
}

func printSpan(w io.Writer, s sdktrace.ReadOnlySpan, children map[trace.SpanID][]sdktrace.ReadOnlySpan, depth int) {
	var attrs []string
	for _, a := range s.Attributes() {
		switch a.Key {
		case "messaging.destination.partition.id", "messaging.kafka.offset", "ordo.attempt", "ordo.outcome", "messaging.consumer.group.name":
			attrs = append(attrs, fmt.Sprintf("%s=%s", a.Key, a.Value.String()))
		}
	}
	status := ""
	if s.Status().Code.String() == "Error" {
		status = " ERROR: " + s.Status().Description
	}
	fmt.Fprintf(w, "%s%s [%s] %v %s%s\n", strings.Repeat("  ", depth), s.Name(), s.SpanKind(),
		s.EndTime().Sub(s.StartTime()).Round(time.Microsecond), strings.Join(attrs, " "), status)
	kids := children[s.SpanContext().SpanID()]
	sort.Slice(kids, func(i, j int) bool { return kids[i].StartTime().Before(kids[j].StartTime()) })
	for _, k := range kids {
		printSpan(w, k, children, depth+1)
	}
}
