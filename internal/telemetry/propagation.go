package telemetry

import (
	"context"
	"reflect"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
)

// Propagation writes and reads records' trace context through a
// propagator, for both sides. While the propagator is OpenTelemetry's
// default global one and none has been installed
// (otel.SetTextMapPropagator), it writes and reads nothing, yet each call
// takes its lock and scans the record's headers: Propagation skips it
// then, for an atomic load and a comparison per record. Once a
// propagator is installed the default one delegates to it, and every
// record goes through it from then on. As with [Idle], the default
// propagator's type is internal to OpenTelemetry and recognised by its
// package path; should that change, every record goes through it.
type Propagation struct {
	prop    propagation.TextMapPropagator
	dormant atomic.Bool
}

// NewPropagation returns a Propagation through prop.
func NewPropagation(prop propagation.TextMapPropagator) *Propagation {
	p := &Propagation{prop: prop}
	if t := reflect.TypeOf(prop); t != nil && t.Kind() == reflect.Pointer &&
		t.Elem().PkgPath() == "go.opentelemetry.io/otel/internal/global" && otel.GetTextMapPropagator() == prop {
		p.dormant.Store(true)
	}
	return p
}

// live reports whether the propagator does anything. The comparison
// cannot panic: while dormant, prop is a pointer.
func (p *Propagation) live() bool {
	if p.dormant.Load() {
		if otel.GetTextMapPropagator() == p.prop {
			return false
		}
		p.dormant.Store(false)
	}
	return true
}

// Inject writes ctx's trace context into r's headers.
func (p *Propagation) Inject(ctx context.Context, r *kgo.Record) {
	if p.live() {
		p.prop.Inject(ctx, Carrier{R: r})
	}
}

// Extract returns ctx with the trace context read from r's headers.
func (p *Propagation) Extract(ctx context.Context, r *kgo.Record) context.Context {
	if !p.live() {
		return ctx
	}
	return p.prop.Extract(ctx, Carrier{R: r})
}
