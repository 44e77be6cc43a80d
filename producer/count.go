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
)

// The partition count a keyed record was placed under is durable in the
// topic itself: every keyed record carries it in the ordo-partitions
// header. A producer's guard starts from the count stamped on the topic's
// newest stamped records, not from whatever count it happens to see
// first, so a change made while no producer ran is refused as surely as
// one made while it runs. Other writers (another stack's producers, ordo's
// unordered publishers) write no stamp, so the newest stamp of a
// partition may be behind their records: it is looked for back from each
// partition's end (stamps.go).

// countReadTimeout bounds reading a topic's stamped count (see
// Producer.learnCount) when the caller's ctx has no shorter deadline.
const countReadTimeout = 10 * time.Second

// maxCountSamples bounds the partitions whose records are read back.
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
// topic's newest stamped records, once per topic: if it differs from the
// topic's count now, the guard starts in the changed state and keyed
// records are refused (or, under Warn, the change is logged and adopted)
// exactly as when the change happens while the producer runs. A topic
// that does not exist yet starts at the count first seen; one that holds
// no stamped record at all (read to its start) at its count now. When the
// count cannot be known (every stamp, if any, is further back than
// countLookback), the producer says so with a warning and starts at the
// count now. ctx and countReadTimeout bound the reads.
func (p *Producer) learnCount(ctx context.Context, topic string) error {
	tc := p.guard.count(topic)
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.learned {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, countReadTimeout)
	defer cancel()
	now, st, err := p.readCount(ctx, topic)
	if err != nil {
		return fmt.Errorf("producer: read the partition count stamped in topic %q: %w", topic, err)
	}
	switch {
	case now == 0: // no topic yet: the guard counts from the first record
	case st.count != 0:
		p.guard.accept(topic, st.count) // != now: Check reports the change
	default:
		if len(st.unknown) > 0 {
			p.log.WarnContext(ctx, "ordo producer: cannot find the partition count ordo stamped on this topic: other writers' records hide it, or no ordo producer wrote keyed events here; starting from the count now, so a partition-count change made before this start goes unnoticed",
				"topic", topic, "now", now, "partitions_unsure", len(st.unknown), "records_read_back", countLookback[len(countLookback)-1])
		}
		p.guard.accept(topic, now)
	}
	tc.learned = true
	return nil
}

// readCount returns topic's partition count now (0 if the topic does not
// exist) and what the stamps of up to maxCountSamples partitions, the
// ones written last, say (see newestStamp).
func (p *Producer) readCount(ctx context.Context, topic string) (now int, st stamps, err error) {
	adm := kadm.NewClient(p.cl)
	ends, err := listOffsets(ctx, topic, adm.ListEndOffsets)
	if errors.Is(err, errNoTopic) {
		return 0, st, nil
	}
	if err != nil {
		return 0, st, err
	}
	starts, err := listOffsets(ctx, topic, adm.ListStartOffsets)
	if err != nil {
		return 0, st, err
	}
	var held []span // the partitions that hold records
	for part, end := range ends[topic] {
		if start, ok := starts.Lookup(topic, part); ok && end.Offset > start.Offset {
			held = append(held, span{part: part, start: start.Offset, end: end.Offset, lo: end.Offset})
		}
	}
	now = len(ends[topic])
	if len(held) == 0 {
		return now, st, nil
	}
	slices.SortFunc(held, func(a, b span) int { return int(b.end - a.end) })
	held = held[:min(len(held), maxCountSamples)]
	st, err = p.newestStamp(ctx, topic, held)
	return now, st, err
}

var errNoTopic = errors.New("no such topic")

// topicExists returns nil if topic exists, an error wrapping
// ErrUnknownTopic if the cluster says it does not, and the read's error
// otherwise. ctx and countReadTimeout bound it.
func (p *Producer) topicExists(ctx context.Context, topic string) error {
	ctx, cancel := context.WithTimeout(ctx, countReadTimeout)
	defer cancel()
	_, err := listOffsets(ctx, topic, kadm.NewClient(p.cl).ListEndOffsets)
	switch {
	case errors.Is(err, errNoTopic):
		return fmt.Errorf("%w %q: it does not exist on the cluster (create it first, or pass producer.AllowMissingTopic() for a topic created later)", ErrUnknownTopic, topic)
	case err != nil:
		return fmt.Errorf("producer: look up topic %q: %w", topic, err)
	}
	return nil
}

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
