package oteltest

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/embedded"
)

type meter struct {
	embedded.Meter
	mp    *MeterProvider
	scope string
}

var _ metric.Meter = (*meter)(nil)

// ErrInvalidName is returned with an instrument whose name the SDK would
// refuse. As with the SDK, the instrument works all the same.
var ErrInvalidName = errors.New("oteltest: invalid instrument name")

// validName applies the SDK's rule: a letter, then up to 254 letters,
// digits, '_', '.', '-' or '/'.
func validName(name string) bool {
	if len(name) == 0 || len(name) > 255 {
		return false
	}
	for i, c := range name {
		letter := (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		if i == 0 && !letter {
			return false
		}
		if !letter && (c < '0' || c > '9') && c != '_' && c != '.' && c != '-' && c != '/' {
			return false
		}
	}
	return true
}

// inst is what every instrument holds: where its measurements go.
type inst struct {
	mp *MeterProvider
	s  *stream
}

func (m *meter) inst(name string, kind Kind, float bool, unit, desc string) (inst, error) {
	in := inst{mp: m.mp, s: m.mp.stream(streamID{scope: m.scope, name: name, kind: kind, float: float}, unit, desc)}
	if !validName(name) {
		return in, fmt.Errorf("%w: %q", ErrInvalidName, name)
	}
	return in, nil
}

// Enabled is true: every measurement is kept.
func (inst) Enabled(context.Context) bool { return true }

func (in inst) base() inst { return in }

func (in inst) addInt(v int64, set attribute.Set)     { in.mp.measure(in.s, set, v, 0) }
func (in inst) addFloat(v float64, set attribute.Set) { in.mp.measure(in.s, set, 0, v) }

type int64Counter struct {
	embedded.Int64Counter
	inst
}

func (c int64Counter) Add(_ context.Context, v int64, opts ...metric.AddOption) {
	c.addInt(v, metric.NewAddConfig(opts).Attributes())
}

type int64UpDownCounter struct {
	embedded.Int64UpDownCounter
	inst
}

func (c int64UpDownCounter) Add(_ context.Context, v int64, opts ...metric.AddOption) {
	c.addInt(v, metric.NewAddConfig(opts).Attributes())
}

type int64Histogram struct {
	embedded.Int64Histogram
	inst
}

func (c int64Histogram) Record(_ context.Context, v int64, opts ...metric.RecordOption) {
	c.addInt(v, metric.NewRecordConfig(opts).Attributes())
}

type int64Gauge struct {
	embedded.Int64Gauge
	inst
}

func (c int64Gauge) Record(_ context.Context, v int64, opts ...metric.RecordOption) {
	c.addInt(v, metric.NewRecordConfig(opts).Attributes())
}

type float64Counter struct {
	embedded.Float64Counter
	inst
}

func (c float64Counter) Add(_ context.Context, v float64, opts ...metric.AddOption) {
	c.addFloat(v, metric.NewAddConfig(opts).Attributes())
}

type float64UpDownCounter struct {
	embedded.Float64UpDownCounter
	inst
}

func (c float64UpDownCounter) Add(_ context.Context, v float64, opts ...metric.AddOption) {
	c.addFloat(v, metric.NewAddConfig(opts).Attributes())
}

type float64Histogram struct {
	embedded.Float64Histogram
	inst
}

func (c float64Histogram) Record(_ context.Context, v float64, opts ...metric.RecordOption) {
	c.addFloat(v, metric.NewRecordConfig(opts).Attributes())
}

type float64Gauge struct {
	embedded.Float64Gauge
	inst
}

func (c float64Gauge) Record(_ context.Context, v float64, opts ...metric.RecordOption) {
	c.addFloat(v, metric.NewRecordConfig(opts).Attributes())
}

func (m *meter) Int64Counter(name string, opts ...metric.Int64CounterOption) (metric.Int64Counter, error) {
	c := metric.NewInt64CounterConfig(opts...)
	in, err := m.inst(name, Counter, false, c.Unit(), c.Description())
	return int64Counter{inst: in}, err
}

func (m *meter) Int64UpDownCounter(name string, opts ...metric.Int64UpDownCounterOption) (metric.Int64UpDownCounter, error) {
	c := metric.NewInt64UpDownCounterConfig(opts...)
	in, err := m.inst(name, UpDownCounter, false, c.Unit(), c.Description())
	return int64UpDownCounter{inst: in}, err
}

func (m *meter) Int64Histogram(name string, opts ...metric.Int64HistogramOption) (metric.Int64Histogram, error) {
	c := metric.NewInt64HistogramConfig(opts...)
	in, err := m.inst(name, Histogram, false, c.Unit(), c.Description())
	return int64Histogram{inst: in}, err
}

func (m *meter) Int64Gauge(name string, opts ...metric.Int64GaugeOption) (metric.Int64Gauge, error) {
	c := metric.NewInt64GaugeConfig(opts...)
	in, err := m.inst(name, Gauge, false, c.Unit(), c.Description())
	return int64Gauge{inst: in}, err
}

func (m *meter) Float64Counter(name string, opts ...metric.Float64CounterOption) (metric.Float64Counter, error) {
	c := metric.NewFloat64CounterConfig(opts...)
	in, err := m.inst(name, Counter, true, c.Unit(), c.Description())
	return float64Counter{inst: in}, err
}

func (m *meter) Float64UpDownCounter(name string, opts ...metric.Float64UpDownCounterOption) (metric.Float64UpDownCounter, error) {
	c := metric.NewFloat64UpDownCounterConfig(opts...)
	in, err := m.inst(name, UpDownCounter, true, c.Unit(), c.Description())
	return float64UpDownCounter{inst: in}, err
}

func (m *meter) Float64Histogram(name string, opts ...metric.Float64HistogramOption) (metric.Float64Histogram, error) {
	c := metric.NewFloat64HistogramConfig(opts...)
	in, err := m.inst(name, Histogram, true, c.Unit(), c.Description())
	return float64Histogram{inst: in}, err
}

func (m *meter) Float64Gauge(name string, opts ...metric.Float64GaugeOption) (metric.Float64Gauge, error) {
	c := metric.NewFloat64GaugeConfig(opts...)
	in, err := m.inst(name, Gauge, true, c.Unit(), c.Description())
	return float64Gauge{inst: in}, err
}
