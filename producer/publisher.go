package producer

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"

	"github.com/ordo-go/ordo/partition"
	"github.com/ordo-go/ordo/schema"
)

var errNilDone = errors.New("nil done callback")

// topicNameHint says what to do when a second event type meets the
// TopicName strategy's one-type-per-topic subject.
const topicNameHint = "under the TopicName subject strategy a topic carries one event type; " +
	"to publish several event types to one topic, use producer.Subjects(schema.RecordName) " +
	"or producer.Subjects(schema.TopicRecordName)"

// core is what a publisher of any type shares: where its events go and
// under which schema ID.
type core struct {
	p       *Producer
	topic   string
	typ     string
	typHdr  []byte
	id      int
	ordered bool
	tt      *topicTel
	count   *topicCount // the topic's stamped count; nil when unordered
}

func (c *core) fail(err error) error {
	return &PublishError{Topic: c.topic, Type: c.typ, Err: err}
}

// begin starts the inflight of one event. For an ordered event the store
// begins with topic, a zero byte and the key: the key is the record's key,
// and the whole prefix is the key the sequence is stamped under, so a key
// used on two topics has a sequence per topic (a consumer checks sequences
// per partition, so one shared sequence would read as gaps).
func (c *core) begin(ctx context.Context, key string, done func(Result, error)) *inflight {
	in := newInflight()
	in.c, in.parent, in.done = c, ctx, done
	b := in.buf
	if c.ordered {
		b = append(b, c.topic...)
		b = append(b, 0)
		in.keyAt = len(b)
		b = append(b, key...)
	}
	in.valAt = len(b)
	in.buf = b
	return in
}

// register finds the ID of a publisher's schema under the producer's
// subject strategy, in mode: registering it (AutoRegister) or looking it
// up (LookupOnly). find does it for UseLatest, where the schema is the
// subject's, not the codec's.
func (p *Producer) register(ctx context.Context, topic, name, avsc string, refs []schema.Reference, mode schema.Mode,
	find func(subject string) (int, error)) (int, error) {
	if p.isClosed.Load() {
		return 0, ErrClosed
	}
	subject := p.subjects.Subject(topic, name)
	byTopic := p.subjects == schema.TopicName
	if byTopic {
		p.typesMu.Lock()
		have, ok := p.types[subject]
		p.typesMu.Unlock()
		if ok && have != name {
			return 0, fmt.Errorf("producer: %s on topic %q: subject %q already holds %s: %w (%s)",
				name, topic, subject, have, schema.ErrIncompatible, topicNameHint)
		}
	}
	var (
		id  int
		err error
	)
	switch mode {
	case schema.LookupOnly:
		id, err = p.reg.Lookup(ctx, subject, avsc, refs...)
	case schema.UseLatest:
		id, err = find(subject)
	default:
		id, err = p.reg.Register(ctx, subject, avsc, refs...)
	}
	if err != nil {
		if byTopic && errors.Is(err, schema.ErrIncompatible) {
			return 0, fmt.Errorf("producer: register %s for topic %q under subject %q: %w (if the topic carries another event type: %s)",
				name, topic, subject, err, topicNameHint)
		}
		return 0, fmt.Errorf("producer: %s schema of %s for topic %q under subject %q: %w", mode, name, topic, subject, err)
	}
	if byTopic {
		p.typesMu.Lock()
		if _, ok := p.types[subject]; !ok {
			p.types[subject] = name
		}
		p.typesMu.Unlock()
	}
	return id, nil
}

// latest returns the ID and a codec of T bound to subject's latest
// version, for UseLatest: it must be a record of codec's name that T binds
// to.
func latest[T any](ctx context.Context, p *Producer, subject string, codec *schema.Codec[T]) (int, *schema.Codec[T], error) {
	l, err := p.reg.Latest(ctx, subject)
	if err != nil {
		return 0, nil, err
	}
	fail := func(reason string, err error) (int, *schema.Codec[T], error) {
		return 0, nil, &schema.ModeError{Mode: schema.UseLatest, Subject: subject, Reason: reason, Err: err}
	}
	c, err := schema.NewCodec[T](l.Schema, schema.WithReferences(l.References...))
	if err != nil {
		return fail(fmt.Sprintf("the Go type %s does not bind to version %d (ID %d)", reflect.TypeFor[T](), l.Version, l.ID), err)
	}
	if c.Name() != codec.Name() {
		return fail(fmt.Sprintf("version %d (ID %d) is record %s, not %s", l.Version, l.ID, c.Name(), codec.Name()),
			schema.ErrSchemaMismatch)
	}
	return l.ID, c, nil
}

// encoder is a core bound to the codec of T: the typed half of publishing,
// shared by [Publisher] and [UnorderedPublisher].
type encoder[T any] struct {
	core
	codec *schema.Codec[T]
	// held recycles the *T the codec reads a by-value event through (see
	// hold).
	held *sync.Pool
}

func newEncoder[T any](ctx context.Context, p *Producer, topic string, codec *schema.Codec[T], ordered bool, opts []PublisherOption) (encoder[T], error) {
	switch {
	case ctx == nil:
		return encoder[T]{}, fmt.Errorf("%w: nil context", ErrInvalidConfig)
	case !p.made():
		return encoder[T]{}, fmt.Errorf("%w: nil or zero *Producer (use New)", ErrInvalidConfig)
	case codec == nil:
		return encoder[T]{}, fmt.Errorf("%w: nil codec for topic %q", ErrInvalidConfig, topic)
	case topic == "":
		return encoder[T]{}, fmt.Errorf("%w: empty topic for %s", ErrInvalidConfig, codec.Name())
	}
	var pc pubConfig
	for i, o := range opts {
		if o == nil {
			return encoder[T]{}, fmt.Errorf("%w: PublisherOption %d is nil", ErrInvalidConfig, i+1)
		}
		o.applyPublisher(&pc)
	}
	if !pc.allowMissing {
		if p.isClosed.Load() {
			return encoder[T]{}, ErrClosed
		}
		if err := p.topicExists(ctx, topic); err != nil {
			return encoder[T]{}, err
		}
	}
	mode := p.mode
	if pc.modeSet {
		if err := checkMode(pc.mode); err != nil {
			return encoder[T]{}, err
		}
		mode = pc.mode
	}
	id, err := p.register(ctx, topic, codec.Name(), codec.Schema(), codec.References(), mode, func(subject string) (int, error) {
		id, c, err := latest(ctx, p, subject, codec)
		if err == nil {
			codec = c
		}
		return id, err
	})
	if err != nil {
		return encoder[T]{}, err
	}
	c := core{
		p: p, topic: topic, typ: codec.Name(), typHdr: []byte(codec.Name()), id: id, ordered: ordered,
		tt: newTopicTel(topic, codec.Name()),
	}
	if ordered {
		if err := p.learnCount(ctx, topic); err != nil {
			return encoder[T]{}, err
		}
		c.count = p.guard.count(topic)
	}
	return encoder[T]{core: c, codec: codec, held: new(sync.Pool)}, nil
}

// hold returns a pooled *T holding ev, for the codec to read. The codec
// reads events through a pointer it hands to unsafe code, so taking the
// address of a by-value parameter moved every published event to the heap:
// an allocation per publish. Give it back with unhold once encoded.
func (e *encoder[T]) hold(ev T) *T {
	p, _ := e.held.Get().(*T)
	if p == nil {
		p = new(T)
	}
	*p = ev
	return p
}

// unhold clears p, so that the pool keeps no reference into the caller's
// event, and returns it to the pool.
func (e *encoder[T]) unhold(p *T) {
	var zero T
	*p = zero
	e.held.Put(p)
}

// prepare encodes ev into a new inflight. An ordered event with an empty
// key is refused here, the one place every publishing path passes.
func (e *encoder[T]) prepare(ctx context.Context, ev *T, key string, done func(Result, error), opts []PublishOption) (*inflight, error) {
	if e.ordered && key == "" {
		return nil, e.fail(partition.ErrNoKey)
	}
	var o eventOpts
	if len(opts) > 0 { // no cost on the common path
		var err error
		if o, err = e.p.eventOptions(opts); err != nil {
			return nil, e.fail(err)
		}
	}
	in := e.begin(ctx, key, done)
	in.extra, in.rec.Timestamp = o.hdrs, o.ts
	b, err := e.codec.AppendFramed(in.buf, e.id, ev)
	if err != nil {
		in.free()
		return nil, e.fail(err)
	}
	in.buf = b
	return in, nil
}

// made reports whether e belongs to a publisher made by its constructor;
// a nil or zero publisher's methods fail with errNotMade.
func (e *encoder[T]) made() bool { return e != nil && e.p != nil }

func (e *encoder[T]) async(ctx context.Context, ev T, key string, done func(Result, error), wait bool, opts []PublishOption) error {
	if !e.made() {
		return &PublishError{Err: errNotMade}
	}
	if done == nil {
		return e.fail(errNilDone)
	}
	held := e.hold(ev)
	in, err := e.prepare(ctx, held, key, done, opts)
	e.unhold(held) // encoded: nothing reads the event again
	if err != nil {
		return err
	}
	if err := e.p.send(ctx, in, wait); err != nil {
		in.free()
		return e.fail(err)
	}
	return nil
}

type outcome struct {
	res Result
	err error
}

func (e *encoder[T]) publish(ctx context.Context, ev T, key string, opts []PublishOption) (Result, error) {
	ch := make(chan outcome, 1)
	err := e.async(ctx, ev, key, func(r Result, err error) { ch <- outcome{r, err} }, true, opts)
	if err != nil {
		return unwritten, err
	}
	// Past the record's deadline and the grace, the wait ends whatever
	// kgo does (see deadlines.late).
	late := e.p.deadlines.late()
	select {
	case o := <-ch:
		return o.res, o.err
	case <-ctx.Done():
		return unwritten, e.fail(fmt.Errorf("%w (the event was handed to Kafka and may still be written)", ctx.Err()))
	case <-late:
		return unwritten, e.fail(errGaveUp)
	}
}

// all publishes n events: get(i) returns the i-th and its options, and
// key (nil when unordered) its key. Every event is encoded before any is
// sent, so an encoding error or a bad option publishes nothing. A send
// error (closed, ctx ended while waiting for buffer space) stops the
// sending: the events not sent get the same error.
func (e *encoder[T]) all(ctx context.Context, n int, get func(int) (*T, []PublishOption), key func(*T) string) ([]Result, error) {
	if !e.made() {
		return nil, &PublishError{Err: errNotMade}
	}
	ins := make([]*inflight, n)
	for i := range n {
		ev, opts := get(i)
		k := ""
		if key != nil {
			k = key(ev)
		}
		in, err := e.prepare(ctx, ev, k, nil, opts)
		if err != nil {
			for _, in := range ins[:i] {
				in.free()
			}
			return nil, fmt.Errorf("event %d: %w", i, err)
		}
		ins[i] = in
	}
	ch := make(chan indexed, n)
	res := make([]Result, n)
	errs := make([]error, n)
	sent := 0
	for i, in := range ins {
		in.done = func(r Result, err error) { ch <- indexed{i, outcome{r, err}} }
		if err := e.p.send(ctx, in, true); err != nil {
			for j := i; j < len(ins); j++ {
				ins[j].free()
				res[j], errs[j] = unwritten, e.fail(err)
			}
			break
		}
		sent++
	}
	e.collect(ctx, ch, res[:sent], errs[:sent])
	return res, joinIndexed(errs)
}

type indexed struct {
	i int
	outcome
}

// collect waits for the outcomes of the len(res) events sent, or for ctx to
// end; the events not heard from then get ctx's error.
// So does the delivery deadline of the last event sent, plus the grace
// (see deadlines.late): the events not heard from then get errGaveUp.
func (e *encoder[T]) collect(ctx context.Context, ch <-chan indexed, res []Result, errs []error) {
	got := make([]bool, len(res))
	late := e.p.deadlines.late()
	for range res {
		var err error
		select {
		case x := <-ch:
			res[x.i], errs[x.i], got[x.i] = x.res, x.err, true
			continue
		case <-ctx.Done():
			err = e.fail(fmt.Errorf("%w (the event was handed to Kafka and may still be written)", ctx.Err()))
		case <-late:
			err = e.fail(errGaveUp)
		}
		for i := range res {
			if !got[i] {
				res[i], errs[i] = unwritten, err
			}
		}
		return
	}
}

// joinIndexed joins the non-nil errors, each prefixed with its event's
// index.
func joinIndexed(errs []error) error {
	var out []error
	for i, err := range errs {
		if err != nil {
			out = append(out, fmt.Errorf("event %d: %w", i, err))
		}
	}
	return errors.Join(out...)
}
