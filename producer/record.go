package producer

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordo-go/ordo/internal/header"
)

// Result describes a published event.
type Result struct {
	Topic     string
	Partition int32 // -1 if the event was not written
	Offset    int64 // -1 if the event was not written
	// EventID and Seq are set once the event was handed to Kafka, even if
	// it then failed.
	EventID string // the ordo-id header: a UUIDv7
	Seq     uint64 // the ordo-seq header; 0 for unordered events
}

// inflight is one event from encoding to its promise: the kgo record, the
// backing store of its bytes, and what the promise needs to report.
//
// It is also the record's Context. kgo and its hooks see the values of the
// publishing call's ctx and the event's send span, but never its
// cancellation: once handed over, a record is delivered or failed by the
// client, and one caller's cancelled ctx cannot fail other callers'
// records batched with it. The promise finds the inflight through it.
//
// Inflights are recycled (inflightPool): one is taken per event in
// [core.begin] and returned by [inflight.free] once the promise has
// reported, when neither kgo nor ordo holds it any more. Nothing that
// outlives the promise may keep it: what the caller gets (the Result, its
// EventID string, the error) is copied out of it, and logs and spans are
// given its parent ctx, not the inflight.
type inflight struct {
	event
	hdrs [6]kgo.RecordHeader // ordo's three, ordo-partitions, traceparent, ordo-seq
}

// event is the part of an inflight that [newInflight] resets for every
// event. The header array is not: seal writes the entries a record uses
// and the record's Headers slice ends there, so stale entries past it are
// never seen. Neither side clears the array, so its four cache lines,
// which the publisher writes and kgo only reads, are not dirtied on kgo's
// core between events and moved back on the next.
type event struct {
	rec     kgo.Record
	c       *core           // the publisher's: producer, topic, type, telemetry
	parent  context.Context // the caller's ctx, then the send span's
	span    trace.Span      // the send span, ended by finish
	done    func(Result, error)
	buf     []byte // topic, 0, key | framed value | id text | seq text
	keyAt   int    // start of the key in buf; 0 when unordered
	valAt   int    // start of the value in buf
	countAt int    // index of the ordo-partitions header; 0 when unordered
	idText  string // the ID in text, for the Result; "" before seal
	seq     uint64
	start   time.Duration      // when the send began, on the monotonic clock (monoNow)
	sealed  time.Duration      // when it was handed to kgo (monoNow)
	dl      *deadline          // its delivery deadline, the ctx kgo gets it with
	size    int64              // what it counts against MaxBufferedBytes (heldBytes)
	timed   bool               // start is set: the duration histogram is enabled
	refused error              // set by the partitioner when the guard refuses
	extra   []kgo.RecordHeader // the caller's headers (Header options)
}

var _ context.Context = (*inflight)(nil)

// unwritten is the Result of an event refused before it was handed over.
var unwritten = Result{Partition: -1, Offset: -1}

// The inflight is never cancelled: kgo calls a record's Done from its
// own goroutines (context.AfterFunc on a request's ctx), possibly after
// the promise recycled the inflight, so nothing it returns may depend on
// the inflight's fields. The delivery deadline is the ctx the record is
// produced with instead (see deadline.go).
func (in *inflight) Deadline() (time.Time, bool) { return time.Time{}, false }
func (in *inflight) Done() <-chan struct{}       { return nil }
func (in *inflight) Err() error                  { return nil }
func (in *inflight) Value(key any) any           { return in.parent.Value(key) }
func (in *inflight) seqKey() []byte              { return in.buf[:in.valAt] }

// seal gives the event its ID and timestamp, appends the ID to the
// backing store and points the record's key, value and headers into it,
// leaving room for [inflight.stamp]. Nothing but stamp appends to the
// store afterwards, and it fits in the room reserved here, so the slices
// stay valid until the promise frees it.
//
// It runs once the event has a buffer slot, just before the record is
// handed to kgo, for the timestamp's sake: kgo's delivery timeout counts
// from the record's timestamp, so a wait for buffer space must not count
// against it. One clock read (the producer's wallClock) serves the ID's
// milliseconds and the timestamp kgo would otherwise read the clock for.
func (in *inflight) seal() {
	p := in.c.p
	mono := monoNow()
	now := p.clock.at(mono)
	in.sealed, in.dl = mono, p.deadlines.at(mono)
	if in.rec.Timestamp.IsZero() { // else the caller's (Timestamp option)
		in.rec.Timestamp = now
	}
	if in.idText != "" {
		return // resealed by PublishSealed: ID and headers are the sealed event's
	}
	b := slices.Grow(in.buf, 36+maxSeqDigits)
	valEnd := len(b)
	b = appendUUID(b, newEventID(now))
	idEnd := len(b)
	in.buf = b
	// The Result's copy of the ID is made here, where the text is hot in
	// this core's cache: made in the promise, on kgo's goroutine, the copy
	// missed the cache on every event.
	in.idText = string(b[valEnd:idEnd])
	in.rec.Topic = in.c.topic
	in.rec.Value = b[in.valAt:valEnd:valEnd]
	in.rec.Context = in
	in.hdrs[0] = kgo.RecordHeader{Key: header.Type, Value: in.c.typHdr}
	in.hdrs[1] = kgo.RecordHeader{Key: header.ID, Value: b[valEnd:idEnd:idEnd]}
	in.hdrs[2] = kgo.RecordHeader{Key: header.Producer, Value: in.c.p.instance}
	// Spare capacity takes traceparent without an allocation (a tracestate
	// or other propagators' headers grow the slice).
	in.rec.Headers = in.hdrs[:3:len(in.hdrs)]
	if in.c.ordered {
		in.rec.Key = b[in.keyAt:in.valAt:in.valAt]
		in.hdrs[3] = kgo.RecordHeader{Key: header.Partitions, Value: in.c.count.value()}
		in.rec.Headers, in.countAt = in.hdrs[:4:len(in.hdrs)], 3
	}
	if len(in.extra) > 0 {
		// The caller's headers follow ordo's fixed ones, with room for
		// traceparent and ordo-seq; countAt stays valid.
		n := len(in.rec.Headers)
		hs := make([]kgo.RecordHeader, n, n+len(in.extra)+2)
		copy(hs, in.rec.Headers)
		in.rec.Headers = append(hs, in.extra...)
	}
}

// maxSeqDigits is the length of the largest uint64 in decimal.
const maxSeqDigits = 20

// heldBytes is what the event holds while buffered, counted against
// [MaxBufferedBytes]: its backing store (key, framed value, room for the
// ID and sequence: the capacity, which is what it holds), its headers'
// keys and values (the caller's, and ordo's at their largest, a
// traceparent included), and the inflight itself. It grows the store to
// its final capacity first, so that seal does not grow it after the
// bytes were counted.
func (in *inflight) heldBytes() int64 {
	in.buf = slices.Grow(in.buf, 36+maxSeqDigits)
	n := cap(in.buf) + ordoHeaderBytes + len(in.c.typHdr) + len(in.c.p.instance) + inflightBytes
	for _, h := range in.extra {
		n += len(h.Key) + len(h.Value)
	}
	return int64(n)
}

// ordoHeaderBytes is what ordo's headers hold beside the type name and
// instance ID, at most: their keys, the ID, a count, a sequence and a
// W3C traceparent.
const ordoHeaderBytes = len(header.Type) + len(header.ID) + len(header.Producer) + len(header.Partitions) + len(header.Seq) +
	36 + 10 + maxSeqDigits + len("traceparent") + 55

// inflightBytes is the size of an inflight without its store.
const inflightBytes = int(unsafe.Sizeof(inflight{}))

// stamp records the event's sequence and adds the ordo-seq header.
func (in *inflight) stamp(seq uint64) {
	in.seq = seq
	at := len(in.buf)
	in.buf = strconv.AppendUint(in.buf, seq, 10)
	end := len(in.buf)
	in.rec.Headers = append(in.rec.Headers, kgo.RecordHeader{Key: header.Seq, Value: in.buf[at:end:end]})
}

// key returns the event's key, nil when unordered.
func (in *inflight) key() []byte {
	if !in.c.ordered {
		return nil
	}
	return in.buf[in.keyAt:in.valAt]
}

// newInflight takes an inflight from the pool and resets it for a new
// event, with an empty backing store. The reset happens here, on the
// publisher's goroutine, which writes these cache lines next anyway.
func newInflight() *inflight {
	in := inflightPool.Get().(*inflight)
	in.event = event{buf: in.buf[:0]}
	return in
}

// free drops the inflight's references to the caller's ctx, span,
// callback, error and headers, so that a pooled inflight does not keep
// them alive, and returns it to the pool; [newInflight] resets the rest.
// kgo holds no reference to a record once its promise has run. A second
// free of the same event would hand one inflight to two events: every path
// frees exactly once (the promise, or the publishing call when the event
// never reached kgo).
func (in *inflight) free() {
	if cap(in.buf) > maxPooledBuf {
		return // let the collector have it: see maxPooledBuf
	}
	in.parent, in.span, in.done, in.refused, in.extra, in.dl = nil, nil, nil, nil, nil, nil
	in.rec.Context = nil
	inflightPool.Put(in)
}

// maxPooledBuf bounds the stores kept for reuse, so one huge event does not
// pin its memory for good.
const maxPooledBuf = 64 << 10

// inflightPool recycles inflights with their backing stores: an inflight
// is ~700 bytes, allocated and collected per event it cost more than any
// other step of ordo's own (issue 15).
var inflightPool = sync.Pool{New: func() any { return &inflight{event: event{buf: make([]byte, 0, 256)}} }}

// appendUUID appends u in its canonical 36-character form without the
// allocation of u.String. Unrolled over a table of digit pairs: twice as
// fast as a loop over the bytes (13 ns against 26), on every event.
func appendUUID(dst []byte, u uuid.UUID) []byte {
	n := len(dst)
	dst = append(dst, "00000000-0000-0000-0000-000000000000"...)
	b := (*[36]byte)(dst[n:])
	put := func(at int, c byte) { p := hexPairs[c]; b[at], b[at+1] = p[0], p[1] }
	put(0, u[0])
	put(2, u[1])
	put(4, u[2])
	put(6, u[3])
	put(9, u[4])
	put(11, u[5])
	put(14, u[6])
	put(16, u[7])
	put(19, u[8])
	put(21, u[9])
	put(24, u[10])
	put(26, u[11])
	put(28, u[12])
	put(30, u[13])
	put(32, u[14])
	put(34, u[15])
	return dst
}

// hexPairs[c] is c in two lowercase hexadecimal digits.
var hexPairs = func() (t [256][2]byte) {
	const digits = "0123456789abcdef"
	for c := range t {
		t[c] = [2]byte{digits[c>>4], digits[c&0xf]}
	}
	return t
}()

// newEventID returns a UUIDv7 (RFC 9562): 48 bits of Unix milliseconds
// (now's), then 74 random bits. The random bits come from math/rand/v2's global
// generator (ChaCha8, seeded by the OS, per thread, no lock), which is an
// order of magnitude cheaper than uuid.NewV7's crypto/rand read per ID and
// as unpredictable for deduplication purposes. IDs are time-ordered to the
// millisecond; within one millisecond their order is random.
func newEventID(now time.Time) uuid.UUID {
	var u uuid.UUID
	ms := uint64(now.UnixMilli())
	binary.BigEndian.PutUint64(u[0:8], ms<<16|rand.Uint64()&0xffff)
	binary.BigEndian.PutUint64(u[8:16], rand.Uint64())
	u[6] = 0x70 | u[6]&0x0f // version 7
	u[8] = 0x80 | u[8]&0x3f // variant 10
	return u
}
