package oteltest

import (
	"context"
	"fmt"
	"slices"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/embedded"
)

// int64Observable and float64Observable are the observable instruments'
// common parts. The API's Observable interfaces have unexported methods;
// embedding the (nil) interface provides them, as the API's noop does.
type int64Observable struct {
	metric.Int64Observable
	inst
}

type float64Observable struct {
	metric.Float64Observable
	inst
}

type int64ObservableCounter struct {
	embedded.Int64ObservableCounter
	int64Observable
}

type int64ObservableUpDownCounter struct {
	embedded.Int64ObservableUpDownCounter
	int64Observable
}

type int64ObservableGauge struct {
	embedded.Int64ObservableGauge
	int64Observable
}

type float64ObservableCounter struct {
	embedded.Float64ObservableCounter
	float64Observable
}

type float64ObservableUpDownCounter struct {
	embedded.Float64ObservableUpDownCounter
	float64Observable
}

type float64ObservableGauge struct {
	embedded.Float64ObservableGauge
	float64Observable
}

// observableInst is every observable instrument of this package.
type observableInst interface{ base() inst }

func (m *meter) Int64ObservableCounter(name string, opts ...metric.Int64ObservableCounterOption) (metric.Int64ObservableCounter, error) {
	c := metric.NewInt64ObservableCounterConfig(opts...)
	in, err := m.inst(name, ObservableCounter, false, c.Unit(), c.Description())
	o := int64ObservableCounter{int64Observable: int64Observable{inst: in}}
	m.int64Callbacks(o, c.Callbacks())
	return o, err
}

func (m *meter) Int64ObservableUpDownCounter(name string, opts ...metric.Int64ObservableUpDownCounterOption) (metric.Int64ObservableUpDownCounter, error) {
	c := metric.NewInt64ObservableUpDownCounterConfig(opts...)
	in, err := m.inst(name, ObservableUpDownCounter, false, c.Unit(), c.Description())
	o := int64ObservableUpDownCounter{int64Observable: int64Observable{inst: in}}
	m.int64Callbacks(o, c.Callbacks())
	return o, err
}

func (m *meter) Int64ObservableGauge(name string, opts ...metric.Int64ObservableGaugeOption) (metric.Int64ObservableGauge, error) {
	c := metric.NewInt64ObservableGaugeConfig(opts...)
	in, err := m.inst(name, ObservableGauge, false, c.Unit(), c.Description())
	o := int64ObservableGauge{int64Observable: int64Observable{inst: in}}
	m.int64Callbacks(o, c.Callbacks())
	return o, err
}

func (m *meter) Float64ObservableCounter(name string, opts ...metric.Float64ObservableCounterOption) (metric.Float64ObservableCounter, error) {
	c := metric.NewFloat64ObservableCounterConfig(opts...)
	in, err := m.inst(name, ObservableCounter, true, c.Unit(), c.Description())
	o := float64ObservableCounter{float64Observable: float64Observable{inst: in}}
	m.float64Callbacks(o, c.Callbacks())
	return o, err
}

func (m *meter) Float64ObservableUpDownCounter(name string, opts ...metric.Float64ObservableUpDownCounterOption) (metric.Float64ObservableUpDownCounter, error) {
	c := metric.NewFloat64ObservableUpDownCounterConfig(opts...)
	in, err := m.inst(name, ObservableUpDownCounter, true, c.Unit(), c.Description())
	o := float64ObservableUpDownCounter{float64Observable: float64Observable{inst: in}}
	m.float64Callbacks(o, c.Callbacks())
	return o, err
}

func (m *meter) Float64ObservableGauge(name string, opts ...metric.Float64ObservableGaugeOption) (metric.Float64ObservableGauge, error) {
	c := metric.NewFloat64ObservableGaugeConfig(opts...)
	in, err := m.inst(name, ObservableGauge, true, c.Unit(), c.Description())
	o := float64ObservableGauge{float64Observable: float64Observable{inst: in}}
	m.float64Callbacks(o, c.Callbacks())
	return o, err
}

// int64Callbacks registers the callbacks given with an instrument's
// options, each allowed to observe that instrument only.
func (m *meter) int64Callbacks(o metric.Int64Observable, cbs []metric.Int64Callback) {
	for _, f := range cbs {
		m.mp.register(func(ctx context.Context, ob metric.Observer) error {
			return f(ctx, int64Observer{ob: ob, o: o})
		}, o.(observableInst))
	}
}

func (m *meter) float64Callbacks(o metric.Float64Observable, cbs []metric.Float64Callback) {
	for _, f := range cbs {
		m.mp.register(func(ctx context.Context, ob metric.Observer) error {
			return f(ctx, float64Observer{ob: ob, o: o})
		}, o.(observableInst))
	}
}

type int64Observer struct {
	embedded.Int64Observer
	ob metric.Observer
	o  metric.Int64Observable
}

func (o int64Observer) Observe(v int64, opts ...metric.ObserveOption) {
	o.ob.ObserveInt64(o.o, v, opts...)
}

type float64Observer struct {
	embedded.Float64Observer
	ob metric.Observer
	o  metric.Float64Observable
}

func (o float64Observer) Observe(v float64, opts ...metric.ObserveOption) {
	o.ob.ObserveFloat64(o.o, v, opts...)
}

// callback is a registered callback and the instruments it may observe.
type callback struct {
	f           metric.Callback
	instruments map[*stream]bool
}

func (mp *MeterProvider) register(f metric.Callback, ins ...observableInst) *callback {
	cb := &callback{f: f, instruments: make(map[*stream]bool)}
	for _, in := range ins {
		cb.instruments[in.base().s] = true
	}
	mp.mu.Lock()
	defer mp.mu.Unlock()
	mp.callbacks = append(mp.callbacks, cb)
	return cb
}

// RegisterCallback registers f to run at each Collect, observing the
// instruments given. As the SDK, it refuses instruments of another
// implementation.
func (m *meter) RegisterCallback(f metric.Callback, instruments ...metric.Observable) (metric.Registration, error) {
	ins := make([]observableInst, 0, len(instruments))
	for _, o := range instruments {
		in, ok := o.(observableInst)
		if !ok || in.base().mp != m.mp {
			return nil, fmt.Errorf("oteltest: RegisterCallback: instrument %T is not from this provider", o)
		}
		ins = append(ins, in)
	}
	return registration{mp: m.mp, cb: m.mp.register(f, ins...)}, nil
}

type registration struct {
	embedded.Registration
	mp *MeterProvider
	cb *callback
}

// Unregister stops the callback from running at later collections.
func (r registration) Unregister() error {
	r.mp.mu.Lock()
	defer r.mp.mu.Unlock()
	r.mp.callbacks = slices.DeleteFunc(r.mp.callbacks, func(c *callback) bool { return c == r.cb })
	return nil
}

// observation is one value a callback observed.
type observation struct {
	s   *stream
	set attribute.Set
	i   int64
	f   float64
}

// observer collects a callback's observations for Collect to apply.
type observer struct {
	embedded.Observer
	allowed map[*stream]bool
	out     *[]observation
	errs    []error
}

func (o *observer) ObserveInt64(obs metric.Int64Observable, v int64, opts ...metric.ObserveOption) {
	if s, ok := o.stream(obs); ok {
		*o.out = append(*o.out, observation{s: s, set: metric.NewObserveConfig(opts).Attributes(), i: v})
	}
}

func (o *observer) ObserveFloat64(obs metric.Float64Observable, v float64, opts ...metric.ObserveOption) {
	if s, ok := o.stream(obs); ok {
		*o.out = append(*o.out, observation{s: s, set: metric.NewObserveConfig(opts).Attributes(), f: v})
	}
}

// stream is obs's stream if the callback was registered with obs; the SDK
// drops (and logs) any other observation, and so does this observer,
// reporting it to Collect's caller.
func (o *observer) stream(obs metric.Observable) (*stream, bool) {
	in, ok := obs.(observableInst)
	if !ok || !o.allowed[in.base().s] {
		o.errs = append(o.errs, fmt.Errorf("oteltest: observation of %T %v, not registered with the callback", obs, nameOf(obs)))
		return nil, false
	}
	return in.base().s, true
}

func nameOf(obs metric.Observable) string {
	if in, ok := obs.(observableInst); ok {
		return in.base().s.id.name
	}
	return "?"
}
