package dlq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/schema"
)

// errStop ends a read early once Show has its limit.
var errStop = errors.New("dlq: stop")

// Entry is one dead letter as [Client.Show] presents it.
type Entry struct {
	Partition int32     // in the dead-letter topic
	Offset    int64     // in the dead-letter topic
	Time      time.Time // when it was dead-lettered
	Key       []byte
	Info      Info // parsed dead-letter headers; zero when ParseError is set
	// ParseError says why the dead-letter headers did not parse.
	ParseError string
	Headers    []kgo.RecordHeader // all of them, in order
	// Value is the value decoded through the registry to JSON, when a
	// registry is configured and the value is a framed Avro record whose
	// writer schema it knows; else nil, and ValueError says why.
	Value      json.RawMessage
	ValueError string
	Raw        []byte // the value as stored
}

// Show returns up to limit dead letters of topic that f selects, oldest
// first per partition (limit <= 0: all), reading up to the end offsets at
// the call. Records whose dead-letter headers do not parse are shown, with
// ParseError, only when f is the zero Filter. Values are decoded through the [Registry] option's registry;
// a value that does not decode is shown raw with the reason, never an
// error. Cancelling ctx stops it with ctx's error.
func (c *Client) Show(ctx context.Context, topic string, f Filter, limit int) ([]Entry, error) {
	var out []Entry
	err := c.read(ctx, topic, func(d *kgo.Record) error {
		info, perr := Parse(d)
		if perr == nil && !f.Match(d, info) || perr != nil && !f.isZero() {
			return nil // a record that does not parse matches only no filter
		}
		e := Entry{Partition: d.Partition, Offset: d.Offset, Time: d.Timestamp, Key: d.Key, Info: info, Headers: d.Headers, Raw: d.Value}
		if perr != nil {
			e.ParseError = perr.Error()
		}
		e.Value, e.ValueError = valueJSON(ctx, c.registry, d.Value)
		out = append(out, e)
		if limit > 0 && len(out) >= limit {
			return errStop
		}
		return nil
	})
	if errors.Is(err, errStop) {
		err = nil
	}
	return out, err
}

// valueJSON decodes a framed Avro value to JSON through reg, or says why
// not. It decodes with schema's own codec (Writer.Decode), on the Avro
// library every consumer decodes with, so Show reads a dead letter as the
// consumer that dead-lettered it did: the same bounds, the writer's schema
// references resolved. reg caches each writer schema.
func valueJSON(ctx context.Context, reg *schema.Registry, value []byte) (json.RawMessage, string) {
	if reg == nil {
		return nil, "no registry configured"
	}
	if value == nil {
		return nil, "null value (tombstone)"
	}
	id, body, err := schema.Unframe(value)
	if err != nil {
		return nil, err.Error()
	}
	w, err := reg.Writer(ctx, id)
	if err != nil {
		return nil, err.Error()
	}
	v, err := w.Decode(body)
	if err != nil {
		return nil, err.Error()
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Sprintf("to JSON: %v", err)
	}
	return b, ""
}
