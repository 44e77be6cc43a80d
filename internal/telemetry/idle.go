package telemetry

import (
	"reflect"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
)

// Idle tells whether a tracer provider is OpenTelemetry's default global
// provider while no SDK has been installed. Such a provider makes spans
// that record nothing yet cost allocations each; ordo starts no span while
// it is idle. Once otel.SetTracerProvider installs a provider the default
// one delegates to it, and Idle reports false from then on.
//
// The default provider's type is internal to OpenTelemetry, so it is
// recognised by its package path; should that change, a provider is never
// taken for idle. The check costs an atomic load and a comparison.
type Idle struct {
	idle    trace.TracerProvider // the default global provider, if resolved to it
	dormant atomic.Bool
}

// NewIdle returns the idle check for tp.
func NewIdle(tp trace.TracerProvider) *Idle {
	i := new(Idle)
	if t := reflect.TypeOf(tp); t != nil && t.Kind() == reflect.Pointer &&
		t.Elem().PkgPath() == "go.opentelemetry.io/otel/internal/global" && otel.GetTracerProvider() == tp {
		i.idle = tp
		i.dormant.Store(true)
	}
	return i
}

// Now reports whether tracing is idle now.
func (i *Idle) Now() bool {
	if !i.dormant.Load() {
		return false
	}
	// idle is a pointer, so the comparison cannot panic on a provider of a
	// type that is not comparable.
	if otel.GetTracerProvider() == i.idle {
		return true
	}
	i.dormant.Store(false)
	return false
}
