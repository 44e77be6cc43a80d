package oteltest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/embedded"
)

// Kind is an instrument's kind.
type Kind int

// The kinds of instrument.
const (
	Counter Kind = iota + 1
	UpDownCounter
	Histogram
	Gauge
	ObservableCounter
	ObservableUpDownCounter
	ObservableGauge
)

var kindNames = [...]string{"", "Counter", "UpDownCounter", "Histogram", "Gauge",
	"ObservableCounter", "ObservableUpDownCounter", "ObservableGauge"}

func (k Kind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

func (k Kind) observable() bool { return k >= ObservableCounter }

// MeterProvider is a metric.MeterProvider that aggregates what its
// instruments record in memory. It is safe for concurrent use.
type MeterProvider struct {
	embedded.MeterProvider

	collecting sync.Mutex // one Collect at a time

	mu        sync.Mutex
	streams   []*stream // in the order the instruments were created
	byID      map[streamID]*stream
	callbacks []*callback
}

var _ metric.MeterProvider = (*MeterProvider)(nil)

// NewMeterProvider returns a provider with no instrument yet.
func NewMeterProvider() *MeterProvider {
	return &MeterProvider{byID: make(map[streamID]*stream)}
}

// Meter returns a meter whose instruments carry name as their scope.
func (mp *MeterProvider) Meter(name string, _ ...metric.MeterOption) metric.Meter {
	return &meter{mp: mp, scope: name}
}

// streamID identifies an instrument's data. Instruments created twice with
// the same identity share it, as in the SDK; the same name with another
// kind is another stream (the SDK warns of the conflict and keeps both).
type streamID struct {
	scope, name string
	kind        Kind
	float       bool
}

type stream struct {
	id         streamID
	unit, desc string
	points     map[attribute.Distinct]*Point
	order      []attribute.Distinct // first-seen order, for stable output
}

// stream returns the stream of id, created on first use.
func (mp *MeterProvider) stream(id streamID, unit, desc string) *stream {
	mp.mu.Lock()
	defer mp.mu.Unlock()
	if s, ok := mp.byID[id]; ok {
		return s
	}
	s := &stream{id: id, unit: unit, desc: desc, points: make(map[attribute.Distinct]*Point)}
	mp.byID[id] = s
	mp.streams = append(mp.streams, s)
	return s
}

// measure applies one measurement to s. It is called with mp.mu held.
func (s *stream) measure(set attribute.Set, i int64, f float64) {
	key := set.Equivalent()
	p, ok := s.points[key]
	if !ok {
		p = &Point{Attributes: set, Min: f, Max: f}
		if !s.id.float {
			p.Min, p.Max = float64(i), float64(i)
		}
		s.points[key] = p
		s.order = append(s.order, key)
	}
	p.Count++
	switch s.id.kind {
	case Counter, UpDownCounter, Histogram, ObservableCounter, ObservableUpDownCounter:
		// An observable counter's observations of one set in one
		// collection add up: each callback may report its own part.
		p.Int += i
		p.Float += f
	case Gauge, ObservableGauge:
		p.Int, p.Float = i, f
	}
	if s.id.kind == Histogram {
		v := f
		if !s.id.float {
			v = float64(i)
		}
		p.Min, p.Max = min(p.Min, v), max(p.Max, v)
	}
}

func (s *stream) reset() {
	clear(s.points)
	s.order = s.order[:0]
}

func (s *stream) snapshot() Metric {
	m := Metric{Scope: s.id.scope, Name: s.id.name, Kind: s.id.kind, Float: s.id.float,
		Unit: s.unit, Description: s.desc, Points: make([]Point, 0, len(s.order))}
	for _, k := range s.order {
		m.Points = append(m.Points, *s.points[k])
	}
	return m
}

func (mp *MeterProvider) measure(s *stream, set attribute.Set, i int64, f float64) {
	mp.mu.Lock()
	defer mp.mu.Unlock()
	s.measure(set, i, f)
}

// Collect runs the callbacks of the observable instruments, then returns
// every instrument's data: the cumulative state of the synchronous ones,
// and what the callbacks observed in this collection for the observable
// ones. A callback's error, or an observation of an instrument that was
// not registered with its callback (which the SDK drops), is returned
// joined with the others; the data is returned all the same.
func (mp *MeterProvider) Collect(ctx context.Context) (Metrics, error) {
	mp.collecting.Lock()
	defer mp.collecting.Unlock()
	mp.mu.Lock()
	cbs := slices.Clone(mp.callbacks)
	mp.mu.Unlock()

	var obs []observation
	var errs []error
	for _, cb := range cbs {
		o := &observer{allowed: cb.instruments, out: &obs}
		if err := cb.f(ctx, o); err != nil {
			errs = append(errs, err)
		}
		errs = append(errs, o.errs...)
	}

	mp.mu.Lock()
	defer mp.mu.Unlock()
	for _, s := range mp.streams {
		if s.id.kind.observable() {
			s.reset()
		}
	}
	for _, o := range obs {
		o.s.measure(o.set, o.i, o.f)
	}
	out := make(Metrics, 0, len(mp.streams))
	for _, s := range mp.streams {
		out = append(out, s.snapshot())
	}
	return out, errors.Join(errs...)
}

// Metrics is what one [MeterProvider.Collect] returned, an entry per
// instrument stream in the order the instruments were created.
type Metrics []Metric

// Metric is one instrument's data.
type Metric struct {
	Scope       string // the meter's name
	Name        string
	Kind        Kind
	Float       bool // a float64 instrument (else int64)
	Unit        string
	Description string
	Points      []Point // one per attribute set, in first-seen order
}

// Point is an instrument's data for one attribute set. For an int64
// instrument the value is in Int, for a float64 one in Float: a counter's
// total, a gauge's last value, a histogram's sum.
type Point struct {
	Attributes attribute.Set
	Int        int64
	Float      float64
	Count      uint64  // the measurements recorded (a histogram's count)
	Min, Max   float64 // a histogram's smallest and largest measurement
}

// Metric returns the named instrument's data, if it was created; an
// instrument created under several scopes or kinds returns the first.
func (ms Metrics) Metric(name string) (Metric, bool) {
	for _, m := range ms {
		if m.Name == name {
			return m, true
		}
	}
	return Metric{}, false
}

// Points returns the points of every stream named name.
func (ms Metrics) Points(name string) []Point {
	var out []Point
	for _, m := range ms {
		if m.Name == name {
			out = append(out, m.Points...)
		}
	}
	return out
}

// Point returns the point of name with exactly the attributes attrs.
func (ms Metrics) Point(name string, attrs ...attribute.KeyValue) (Point, bool) {
	want := attribute.NewSet(attrs...)
	for _, p := range ms.Points(name) {
		if p.Attributes.Equals(&want) {
			return p, true
		}
	}
	return Point{}, false
}

// Int64 is the sum of Int over the points of name: a counter's total over
// its attribute sets, the sum of a gauge's values, a histogram's sum.
func (ms Metrics) Int64(name string) int64 {
	var n int64
	for _, p := range ms.Points(name) {
		n += p.Int
	}
	return n
}

// Float64 is Int64 for float64 instruments.
func (ms Metrics) Float64(name string) float64 {
	var n float64
	for _, p := range ms.Points(name) {
		n += p.Float
	}
	return n
}

// Count is the number of measurements of name over its attribute sets:
// for a histogram, the sum of its counts.
func (ms Metrics) Count(name string) uint64 {
	var n uint64
	for _, p := range ms.Points(name) {
		n += p.Count
	}
	return n
}

// String renders every instrument, point and attribute, one point a line.
func (ms Metrics) String() string {
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "%s %s %s unit=%q description=%q\n", m.Scope, m.Name, m.Kind, m.Unit, m.Description)
		for _, p := range m.Points {
			fmt.Fprintf(&b, "\t{%s} int=%d float=%g count=%d min=%g max=%g\n",
				p.Attributes.Encoded(attribute.DefaultEncoder()), p.Int, p.Float, p.Count, p.Min, p.Max)
		}
	}
	return b.String()
}
