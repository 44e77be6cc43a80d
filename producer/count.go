package producer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/internal/header"
)

// The partition count a keyed record was placed under is durable in the
// topic itself: every keyed record carries it in the ordo-partitions
// header. A producer's guard starts from the count stamped on the topic's
// latest records, not from whatever count it happens to see first, so a
// change made while no producer ran is refused as surely as one made
// while it runs.

// countReadTimeout bounds reading a topic's stamped count (see
// Producer.learnCount) when the caller's ctx has no shorter deadline.
const countReadTimeout = 10 * time.Second

// maxCountSamples bounds the partitions whose latest record is read.
const maxCountSamples = 64

// topicCount is what the producer knows of one topic's partition count.
//
// mu serialises learning (publishers of one topic created at once learn
// it once); dec is read lock-free by every keyed publish, and written
// when the count on record changes (learnt, accepted, adopted under Warn).
type topicCount struct {
	mu      sync.Mutex
	learned bool
	dec     atomic.Pointer[[]byte] // the count on record, in decimal; nil before any
	epoch   atomic.Uint64          // bumped by every accept: the partitioner re-checks
}

// value returns the count to stamp before placement; the partitioner
// corrects it to the count the record is placed under.
func (tc *topicCount) value() []byte {
	if d := tc.dec.Load(); d != nil {
		return *d
	}
	return nil
}

func (tc *topicCount) set(n int) {
	d := strconv.AppendInt(nil, int64(n), 10)
	tc.dec.Store(&d)
}

// AcceptPartitionCount tells the producer that topic now has n partitions
// and that publishing keyed events under n is safe (for example, once the
// consumers have drained the partitions written under the old count). It
// ends the refusal of a [*partition.CountChangedError] with Now == n, and
// is how a refusal ends: neither time nor a restart ends it, since the
// count is stamped into the topic. Accepting an n the topic does not have
// keeps keyed records refused. It is safe for concurrent use.
func (p *Producer) AcceptPartitionCount(topic string, n int) {
	if !p.made() || n <= 0 {
		return
	}
	p.guard.accept(topic, n)
}

// learnCount makes the guard start from the partition count stamped on
// topic's latest records, once per topic: if it differs from the topic's
// count now, the guard starts in the changed state and keyed records are
// refused (or, under Warn, the change is logged and adopted) exactly as
// when the change happens while the producer runs. A topic that does not
// exist yet, or holds no stamped record, starts at its count now (or, if
// it does not exist, at the count first seen). ctx and countReadTimeout
// bound the reads.
func (p *Producer) learnCount(ctx context.Context, topic string) error {
	tc := p.guard.count(topic)
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.learned {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, countReadTimeout)
	defer cancel()
	now, stamped, err := p.readCount(ctx, topic)
	if err != nil {
		return fmt.Errorf("producer: read the partition count stamped in topic %q: %w", topic, err)
	}
	switch {
	case now == 0: // no topic yet: the guard counts from the first record
	case stamped != 0:
		p.guard.accept(topic, stamped) // != now: Check reports the change
	default:
		p.guard.accept(topic, now)
	}
	tc.learned = true
	return nil
}

// readCount returns topic's partition count now (0 if the topic does not
// exist) and the count stamped on the newest of the latest records of up
// to maxCountSamples partitions (0 if none carries one: records of other
// producers are ignored).
func (p *Producer) readCount(ctx context.Context, topic string) (now, stamped int, err error) {
	adm := kadm.NewClient(p.cl)
	ends, err := listOffsets(ctx, topic, adm.ListEndOffsets)
	if errors.Is(err, errNoTopic) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	starts, err := listOffsets(ctx, topic, adm.ListStartOffsets)
	if err != nil {
		return 0, 0, err
	}
	var last []kadm.ListedOffset // the partitions that hold records
	for part, end := range ends[topic] {
		if start, ok := starts.Lookup(topic, part); ok && end.Offset > start.Offset {
			last = append(last, end)
		}
	}
	now = len(ends[topic])
	if len(last) == 0 {
		return now, 0, nil
	}
	slices.SortFunc(last, func(a, b kadm.ListedOffset) int { return int(b.Offset - a.Offset) })
	last = last[:min(len(last), maxCountSamples)]
	stamped, err = p.newestStamp(ctx, topic, last)
	return now, stamped, err
}

// newestStamp fetches the record before each end offset in ends and
// returns the newest ordo-partitions count among them: the largest, since
// a topic's partition count only grows (a topic deleted and made again
// with fewer partitions starts with no records). Not the count of the
// record with the latest timestamp: a caller's [Timestamp] can back-date
// a record written after the change. It stops
// when every partition answered or ctx ends; records it had by then
// decide.
func (p *Producer) newestStamp(ctx context.Context, topic string, ends []kadm.ListedOffset) (int, error) {
	offsets := make(map[int32]kgo.Offset, len(ends))
	for _, e := range ends {
		offsets[e.Partition] = kgo.NewOffset().At(e.Offset - 1)
	}
	opts := append(p.connOpts(),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
		kgo.FetchMaxWait(100*time.Millisecond),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	var (
		stamped  int
		answered = make(map[int32]bool, len(ends))
	)
	for len(answered) < len(ends) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			break
		}
		fs.EachRecord(func(r *kgo.Record) {
			answered[r.Partition] = true
			v, ok := header.Get(r.Headers, header.Partitions)
			n, err := strconv.Atoi(v)
			if ok && err == nil && n > stamped {
				stamped = n
			}
		})
	}
	if len(answered) == 0 && ctx.Err() != nil {
		return 0, ctx.Err()
	}
	return stamped, nil
}

var errNoTopic = errors.New("no such topic")

// listOffsets lists topic's offsets with list, retrying while a partition
// answers with a retriable error (a partition just created or changing
// leader), until ctx ends. A topic that does not exist is errNoTopic:
// kadm reports it as partition -1 alone.
func listOffsets(ctx context.Context, topic string,
	list func(context.Context, ...string) (kadm.ListedOffsets, error),
) (kadm.ListedOffsets, error) {
	for {
		los, err := list(ctx, topic)
		if err == nil {
			err = los.Error()
		}
		if lo, ok := los.Lookup(topic, -1); ok && len(los[topic]) == 1 && errors.Is(lo.Err, kerr.UnknownTopicOrPartition) {
			return nil, errNoTopic
		}
		if err == nil || !kerr.IsRetriable(err) {
			return los, err
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (last: %w)", ctx.Err(), err)
		}
	}
}
