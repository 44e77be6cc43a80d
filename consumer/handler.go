package consumer

import (
	"context"
	"github.com/ordo-go/ordo/internal/header"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/schema"
)

// Handler handles one event of type T. It is called for the records of one
// key one at a time, in offset order; records of different keys run in
// parallel on the consumer's lanes. Returning an error retries the record
// with backoff (see [Retry]).
//
// ctx is cancelled when the consumer closes, when its drain deadline
// passes, and when the record's partition is revoked and the handler is
// still running at the [DrainTimeout]: honour it. A revoke waits a second
// more for a cancelled handler to return; one that ignores ctx and keeps
// running is logged, counted ([Stats].HandedOver and the
// ordo.consumer.handover.running metric), and can overlap with the
// partition's next owner handling later records of the same key, which
// breaks per-key order for that key. Its result is discarded.
type Handler[T any] func(ctx context.Context, ev T, m Meta) error

// Meta describes the record an event came from.
type Meta struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Timestamp time.Time
	Headers   []kgo.RecordHeader
	Type      string // full Avro name of the writer's record
	SchemaID  int    // writer schema ID
	Producer  string // ordo-producer header, if any
	Seq       uint64 // ordo-seq header, if any
	Attempt   int    // 1 for the first try
}

// EventID returns the record's event ID (its ordo-id header), or "" if it
// has none. It is a method, not a field, so that a handler that does not
// read it does not pay for it: the ID is copied out of the record's
// headers on each call (one allocation per record for every handler was
// a measurable share of the consumer's cost).
func (m Meta) EventID() string {
	v, _ := header.Get(m.Headers, header.ID)
	return string(v)
}

// binding is a handler with its type erased: it decodes a body written with
// w into the handler's type and calls the handler.
type binding struct {
	name     string
	spanName string // "handle <name>"
	handle   func(ctx context.Context, w *schema.Writer, body []byte, m Meta, mw Middleware) (decodeErr, handleErr error)
}

// On registers h for events of codec's type. Records are dispatched by the
// writer schema's full name, and each body is resolved from the writer's
// schema into the codec's (reader) schema, so events written with an older
// or newer compatible schema decode into T. A nil codec or handler is a
// configuration error reported by [New].
func On[T any](codec *schema.Codec[T], h Handler[T]) Option {
	if codec == nil || h == nil {
		return optionFunc(func(c *config) {
			c.handlersTried = true
			if codec == nil {
				c.fail("On: nil codec")
			}
			if h == nil {
				c.fail("On: nil handler")
			}
		})
	}
	b := binding{
		name:     codec.Name(),
		spanName: "handle " + codec.Name(),
		handle: func(ctx context.Context, w *schema.Writer, body []byte, m Meta, mw Middleware) (error, error) {
			var v T
			if err := codec.DecodeFrom(w, body, &v); err != nil {
				return err, nil
			}
			if mw == nil {
				return nil, h(ctx, v, m)
			}
			return nil, throughMiddleware(ctx, mw, h, v, m)
		},
	}
	return optionFunc(func(c *config) { c.handlers = append(c.handlers, b) })
}

// throughMiddleware calls h through the Use chain mw. It is a function of
// its own so that only this path pays for the closure: a closure over the
// handle function's v and m, even one never made, moved both to the heap
// for every record, middleware or not (two allocations and ~200 bytes a
// record; TestHandleAllocs).
func throughMiddleware[T any](ctx context.Context, mw Middleware, h Handler[T], v T, m Meta) error {
	return mw(ctx, m, func(ctx context.Context) error { return h(ctx, v, m) })
}
