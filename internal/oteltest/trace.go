package oteltest

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
)

// Sampler decides which spans record.
type Sampler int

const (
	// ParentBased samples a root span and follows the parent's sampled flag
	// otherwise: the SDK's default, ParentBased(AlwaysSample()).
	ParentBased Sampler = iota
	// AlwaysSample samples every span, as the SDK's AlwaysSample.
	AlwaysSample
	// NeverSample samples no span, as the SDK's NeverSample.
	NeverSample
)

// sampled reports whether a span under parent is sampled.
func (s Sampler) sampled(parent trace.SpanContext) bool {
	switch s {
	case AlwaysSample:
		return true
	case NeverSample:
		return false
	default:
		return !parent.IsValid() || parent.IsSampled()
	}
}

// Option configures a [TracerProvider].
type Option interface{ apply(*TracerProvider) }

type samplerOption Sampler

func (s samplerOption) apply(tp *TracerProvider) { tp.sampler = Sampler(s) }

// WithSampler sets the provider's sampler; the default is [ParentBased].
func WithSampler(s Sampler) Option { return samplerOption(s) }

// TracerProvider is a trace.TracerProvider that keeps the spans that end.
// It is safe for concurrent use.
type TracerProvider struct {
	embedded.TracerProvider
	sampler Sampler

	mu    sync.Mutex
	ended []Span
}

var _ trace.TracerProvider = (*TracerProvider)(nil)

// NewTracerProvider returns a provider with no span recorded yet.
func NewTracerProvider(opts ...Option) *TracerProvider {
	tp := new(TracerProvider)
	for _, o := range opts {
		o.apply(tp)
	}
	return tp
}

// Tracer returns a tracer whose spans carry name as their [Span.Scope].
func (tp *TracerProvider) Tracer(name string, _ ...trace.TracerOption) trace.Tracer {
	return &tracer{tp: tp, scope: name}
}

// Spans returns a copy of the spans ended so far, in the order they ended.
func (tp *TracerProvider) Spans() []Span {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	out := make([]Span, len(tp.ended))
	for i, s := range tp.ended {
		out[i] = s.clone()
	}
	return out
}

// Reset forgets the spans ended so far.
func (tp *TracerProvider) Reset() {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	tp.ended = nil
}

func (tp *TracerProvider) add(s Span) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	tp.ended = append(tp.ended, s)
}

// Span is an ended span, the fields named as in the SDK's tracetest.SpanStub.
type Span struct {
	Name        string
	SpanKind    trace.SpanKind
	SpanContext trace.SpanContext
	Parent      trace.SpanContext // invalid for a root span
	Attributes  []attribute.KeyValue
	Links       []trace.Link
	Events      []Event
	Status      Status
	StartTime   time.Time
	EndTime     time.Time
	Scope       string // the name of the tracer that started it
}

// Attr returns the value of the span's attribute key, if it has one.
func (s Span) Attr(key attribute.Key) (attribute.Value, bool) {
	for _, a := range s.Attributes {
		if a.Key == key {
			return a.Value, true
		}
	}
	return attribute.Value{}, false
}

func (s Span) clone() Span {
	s.Attributes = slices.Clone(s.Attributes)
	s.Links = slices.Clone(s.Links)
	s.Events = slices.Clone(s.Events)
	return s
}

// Event is an event added to a span, by AddEvent or RecordError.
type Event struct {
	Name       string
	Attributes []attribute.KeyValue
	Time       time.Time
}

// Status is a span's status.
type Status struct {
	Code        codes.Code
	Description string
}

type tracer struct {
	embedded.Tracer
	tp    *TracerProvider
	scope string
}

// Start starts a span under the span context in ctx, as the SDK does: a
// child shares its parent's trace ID and trace state, a root gets a new
// trace ID, and every span a new span ID, recording or not.
func (t *tracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	cfg := trace.NewSpanStartConfig(opts...)
	var parent trace.SpanContext
	if !cfg.NewRoot() {
		parent = trace.SpanContextFromContext(ctx)
	}
	tid := parent.TraceID()
	if !parent.IsValid() {
		tid = newTraceID()
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: newSpanID(), TraceState: parent.TraceState(),
		TraceFlags: parent.TraceFlags() &^ trace.FlagsSampled,
	})
	if !t.tp.sampler.sampled(parent) {
		s := &nonRecording{sc: sc, tp: t.tp}
		return trace.ContextWithSpan(ctx, s), s
	}
	kind := cfg.SpanKind()
	if kind == trace.SpanKindUnspecified {
		kind = trace.SpanKindInternal
	}
	start := cfg.Timestamp()
	if start.IsZero() {
		start = time.Now()
	}
	s := &span{tp: t.tp, data: Span{
		Name: name, SpanKind: kind, SpanContext: sc.WithTraceFlags(sc.TraceFlags() | trace.FlagsSampled),
		Parent: parent, StartTime: start, Scope: t.scope,
	}}
	s.setAttributes(cfg.Attributes())
	for _, l := range cfg.Links() {
		s.addLink(l)
	}
	return trace.ContextWithSpan(ctx, s), s
}

// newTraceID returns a random, valid trace ID.
func newTraceID() trace.TraceID {
	var id trace.TraceID
	for !id.IsValid() {
		binary.BigEndian.PutUint64(id[:8], rand.Uint64())
		binary.BigEndian.PutUint64(id[8:], rand.Uint64())
	}
	return id
}

// newSpanID returns a random, valid span ID.
func newSpanID() trace.SpanID {
	var id trace.SpanID
	for !id.IsValid() {
		binary.BigEndian.PutUint64(id[:], rand.Uint64())
	}
	return id
}

// span is a recording span.
type span struct {
	embedded.Span
	tp *TracerProvider

	mu    sync.Mutex
	ended bool
	data  Span
}

var _ trace.Span = (*span)(nil)

func (s *span) SpanContext() trace.SpanContext { return s.data.SpanContext } // immutable

func (s *span) TracerProvider() trace.TracerProvider { return s.tp }

func (s *span) IsRecording() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.ended
}

// End records the span with the provider, once; later calls do nothing.
func (s *span) End(opts ...trace.SpanEndOption) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	s.ended = true
	cfg := trace.NewSpanEndConfig(opts...)
	s.data.EndTime = cfg.Timestamp()
	if s.data.EndTime.IsZero() {
		s.data.EndTime = time.Now()
	}
	s.tp.add(s.data.clone())
}

func (s *span) SetAttributes(kv ...attribute.KeyValue) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ended {
		s.setAttributes(kv)
	}
}

// setAttributes keeps the last value of a key at the place of its first,
// and drops invalid attributes, as the SDK does.
func (s *span) setAttributes(kv []attribute.KeyValue) {
	for _, a := range kv {
		if !a.Valid() {
			continue
		}
		if i := slices.IndexFunc(s.data.Attributes, func(b attribute.KeyValue) bool { return b.Key == a.Key }); i >= 0 {
			s.data.Attributes[i] = a
			continue
		}
		s.data.Attributes = append(s.data.Attributes, a)
	}
}

func (s *span) AddLink(l trace.Link) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ended {
		s.addLink(l)
	}
}

// addLink drops a link that carries nothing, as the SDK does.
func (s *span) addLink(l trace.Link) {
	if !l.SpanContext.IsValid() && len(l.Attributes) == 0 && l.SpanContext.TraceState().Len() == 0 {
		return
	}
	l.Attributes = slices.Clone(l.Attributes)
	s.data.Links = append(s.data.Links, l)
}

func (s *span) AddEvent(name string, opts ...trace.EventOption) {
	cfg := trace.NewEventConfig(opts...)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	s.data.Events = append(s.data.Events, Event{Name: name, Attributes: cfg.Attributes(), Time: cfg.Timestamp()})
}

// RecordError adds the "exception" event with the error's type and
// message, as the SDK does; it leaves the status alone.
func (s *span) RecordError(err error, opts ...trace.EventOption) {
	if err == nil {
		return
	}
	opts = append(opts, trace.WithAttributes(
		attribute.String("exception.type", typeName(err)),
		attribute.String("exception.message", err.Error()),
	))
	s.AddEvent("exception", opts...)
}

// typeName names err's type as the SDK's exception.type does.
func typeName(err error) string {
	t := reflect.TypeOf(err)
	if t.PkgPath() == "" && t.Name() == "" {
		return t.String()
	}
	return fmt.Sprintf("%s.%s", t.PkgPath(), t.Name())
}

// SetStatus follows the SDK: Unset < Error < Ok, a status never moves
// down, and only Error keeps a description.
func (s *span) SetStatus(code codes.Code, description string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended || s.data.Status.Code > code {
		return
	}
	st := Status{Code: code}
	if code == codes.Error {
		st.Description = description
	}
	s.data.Status = st
}

func (s *span) SetName(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ended {
		s.data.Name = name
	}
}

// nonRecording is a span that was not sampled. Its span context is valid
// and not sampled, so that children and propagators carry the trace on
// as they do under the SDK's NeverSample.
type nonRecording struct {
	embedded.Span
	sc trace.SpanContext
	tp *TracerProvider
}

var _ trace.Span = (*nonRecording)(nil)

func (n *nonRecording) SpanContext() trace.SpanContext        { return n.sc }
func (n *nonRecording) TracerProvider() trace.TracerProvider  { return n.tp }
func (*nonRecording) IsRecording() bool                       { return false }
func (*nonRecording) End(...trace.SpanEndOption)              {}
func (*nonRecording) AddEvent(string, ...trace.EventOption)   {}
func (*nonRecording) AddLink(trace.Link)                      {}
func (*nonRecording) RecordError(error, ...trace.EventOption) {}
func (*nonRecording) SetStatus(codes.Code, string)            {}
func (*nonRecording) SetName(string)                          {}
func (*nonRecording) SetAttributes(...attribute.KeyValue)     {}
