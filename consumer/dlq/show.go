package dlq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hamba/avro/v2"
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
	dec := &jsonDecoder{reg: c.registry, schemas: make(map[int]avro.Schema)}
	err := c.read(ctx, topic, func(d *kgo.Record) error {
		info, perr := Parse(d)
		if perr == nil && !f.Match(d, info) || perr != nil && !f.isZero() {
			return nil // a record that does not parse matches only no filter
		}
		e := Entry{Partition: d.Partition, Offset: d.Offset, Time: d.Timestamp, Key: d.Key, Info: info, Headers: d.Headers, Raw: d.Value}
		if perr != nil {
			e.ParseError = perr.Error()
		}
		e.Value, e.ValueError = dec.decode(ctx, d.Value)
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

// jsonDecoder turns framed Avro values into JSON through the registry,
// parsing each writer schema once.
type jsonDecoder struct {
	reg     *schema.Registry
	schemas map[int]avro.Schema
}

func (j *jsonDecoder) decode(ctx context.Context, value []byte) (json.RawMessage, string) {
	if j.reg == nil {
		return nil, "no registry configured"
	}
	if value == nil {
		return nil, "null value (tombstone)"
	}
	id, body, err := schema.Unframe(value)
	if err != nil {
		return nil, err.Error()
	}
	s, err := j.schema(ctx, id)
	if err != nil {
		return nil, err.Error()
	}
	var v any
	if err := avro.Unmarshal(s, body, &v); err != nil {
		return nil, fmt.Sprintf("decode with schema %d: %v", id, err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Sprintf("to JSON: %v", err)
	}
	return b, ""
}

func (j *jsonDecoder) schema(ctx context.Context, id int) (avro.Schema, error) {
	if s, ok := j.schemas[id]; ok {
		return s, nil
	}
	w, err := j.reg.Writer(ctx, id)
	if err != nil {
		return nil, err
	}
	// A cache per schema: versions of one record name must not collide.
	s, err := avro.ParseWithCache(w.Schema(), "", &avro.SchemaCache{})
	if err != nil {
		return nil, fmt.Errorf("parse schema %d: %w", id, err)
	}
	j.schemas[id] = s
	return s, nil
}
