package outbox

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/partition"
	"github.com/ordo-go/ordo/producer"
)

// Row is one committed outbox row, as a [Session] fetches it.
type Row struct {
	// ID orders the rows: for the events of one key, the order their
	// transactions committed in. A store gives every row its ID.
	ID      int64
	Event   producer.Sealed
	Created time.Time // when the row was written, for commit-to-publish latency
}

// Inserter writes sealed events into an outbox inside the caller's
// transaction of type Tx (pgx.Tx, *sql.Tx, the [Memory] store's *MemTx):
// the row commits or rolls back with the rest of the transaction.
// Implementations are safe for concurrent use on different transactions.
type Inserter[Tx any] interface {
	Insert(ctx context.Context, tx Tx, ev *producer.Sealed) error
}

// Store is where a [Relay] reads committed rows from. Each relay works
// through its own [Session]; a store that serves several relays at once
// shares its rows among their sessions without splitting a key (see
// [Session.Fetch]).
type Store interface {
	// Open starts a session: the claims and the connection of one relay.
	// ctx bounds the opening only.
	Open(ctx context.Context) (Session, error)
}

// Session is one relay's view of a store. The relay calls its methods
// from one goroutine, one at a time.
type Session interface {
	// Fetch returns up to max committed rows not yet marked, in ID order,
	// from the lanes this session holds. A lane is a share of the
	// partitions ([producer.Sealed].Partition): all rows of a key are in
	// one lane, and a lane is held by one session at a time. Fetch may
	// take and give up lanes to balance them across live sessions: the
	// relay calls it only when every row it fetched before is published
	// and marked or given up, so a lane changes hands with nothing of it
	// in flight, and its next holder starts from its oldest unmarked row.
	Fetch(ctx context.Context, max int) ([]Row, error)
	// Mark records rows as sent (deleting or archiving them), after the
	// broker acknowledged them. Rows not marked are fetched again.
	Mark(ctx context.Context, rows []Row) error
	// Wait blocks until rows may have been committed since the last
	// Fetch, or d passed, or ctx ended (returning ctx's error).
	Wait(ctx context.Context, d time.Duration) error
	// Close gives up the session's lanes. A session whose process dies
	// loses them too (the store's own way: a database session ends).
	Close() error
}

// Writer adds events of type T to an outbox in the caller's transactions
// of type Tx. It is safe for concurrent use.
type Writer[Tx any, T any] struct {
	seal func(context.Context, T, ...producer.PublishOption) (producer.Sealed, error)
	ins  Inserter[Tx]
}

// NewWriter returns a writer that seals events with pub (see
// [producer.Publisher.Seal]: framed and traced as pub publishes them, with
// their partition) and inserts them with ins. Tx is named, T inferred:
//
//	w := outbox.NewWriter[pgx.Tx](pub, store)
func NewWriter[Tx any, T partition.Keyed](pub *producer.Publisher[T], ins Inserter[Tx]) (*Writer[Tx, T], error) {
	if pub == nil || ins == nil {
		return nil, fmt.Errorf("%w: NewWriter needs a publisher and an inserter", producer.ErrInvalidConfig)
	}
	return &Writer[Tx, T]{seal: pub.Seal, ins: ins}, nil
}

// NewUnorderedWriter is [NewWriter] for events without a key.
func NewUnorderedWriter[Tx any, T any](pub *producer.UnorderedPublisher[T], ins Inserter[Tx]) (*Writer[Tx, T], error) {
	if pub == nil || ins == nil {
		return nil, fmt.Errorf("%w: NewUnorderedWriter needs a publisher and an inserter", producer.ErrInvalidConfig)
	}
	return &Writer[Tx, T]{seal: pub.Seal, ins: ins}, nil
}

// Add seals ev and inserts it into the outbox inside tx, returning its
// event ID (the ordo-id its record will carry). Nothing reaches Kafka
// until tx commits and a [Relay] publishes the row; if tx rolls back, the
// event is gone with it. opts are as for [producer.Publisher.Publish]
// (headers, a timestamp). ctx's span is the trace the record continues.
//
// Errors: Seal's (a [*producer.PublishError]) or the store's.
func (w *Writer[Tx, T]) Add(ctx context.Context, tx Tx, ev T, opts ...producer.PublishOption) (string, error) {
	s, err := w.seal(ctx, ev, opts...)
	if err != nil {
		return "", err
	}
	if err := w.ins.Insert(ctx, tx, &s); err != nil {
		return "", fmt.Errorf("outbox: insert %s event %s: %w", s.Topic, s.EventID, err)
	}
	return s.EventID, nil
}

// Lane returns the lane of a sealed event among n: its partition modulo
// n, so a key is always in one lane. Events without a key (partition -1)
// are in lane 0. Stores use it to compute the lane they store.
func Lane(ev *producer.Sealed, n int) int {
	if ev.Partition < 0 || n <= 0 {
		return 0
	}
	return int(ev.Partition) % n
}

// LaneOrder returns the n lanes in the order a session should take them
// (and give them up in reverse): lanes sorted by their index with its
// bits reversed, so lanes 0, n/2, n/4, 3n/4, ... come first. Topics often
// have fewer partitions than there are lanes, and only lanes below the
// partition count hold rows: a session that kept the lowest half of the
// lanes would keep all the work. In this order each half, quarter, ...
// of the lanes spreads over the low lanes evenly.
func LaneOrder(n int) []int {
	bits := 0
	for 1<<bits < n {
		bits++
	}
	rev := func(l int) int {
		r := 0
		for i := range bits {
			r |= (l >> i & 1) << (bits - 1 - i)
		}
		return r
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return rev(a) - rev(b) })
	return order
}

// ErrBadHeaders is returned by [ParseHeaders] for bytes not written by
// [AppendHeaders].
var ErrBadHeaders = errors.New("outbox: malformed headers")

// AppendHeaders appends hs to dst in the compact form stores keep them
// in: a count, then each key and value, each prefixed by its length
// (unsigned varints).
func AppendHeaders(dst []byte, hs []kgo.RecordHeader) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(hs)))
	for _, h := range hs {
		dst = binary.AppendUvarint(dst, uint64(len(h.Key)))
		dst = append(dst, h.Key...)
		dst = binary.AppendUvarint(dst, uint64(len(h.Value)))
		dst = append(dst, h.Value...)
	}
	return dst
}

// ParseHeaders reads headers written by [AppendHeaders]. Values point
// into b.
func ParseHeaders(b []byte) ([]kgo.RecordHeader, error) {
	n, b, ok := uvarint(b)
	if !ok || n > uint64(len(b)) {
		return nil, ErrBadHeaders
	}
	hs := make([]kgo.RecordHeader, 0, n)
	for range n {
		var k, v []byte
		if k, b, ok = field(b); !ok {
			return nil, ErrBadHeaders
		}
		if v, b, ok = field(b); !ok {
			return nil, ErrBadHeaders
		}
		hs = append(hs, kgo.RecordHeader{Key: string(k), Value: v})
	}
	if len(b) != 0 {
		return nil, ErrBadHeaders
	}
	return hs, nil
}

func uvarint(b []byte) (uint64, []byte, bool) {
	n, w := binary.Uvarint(b)
	if w <= 0 {
		return 0, nil, false
	}
	return n, b[w:], true
}

func field(b []byte) ([]byte, []byte, bool) {
	n, b, ok := uvarint(b)
	if !ok || n > uint64(len(b)) {
		return nil, nil, false
	}
	return b[:n:n], b[n:], true
}
