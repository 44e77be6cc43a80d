package producer

import (
	"context"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/internal/header"
)

// countLookback are the windows read back from each partition's end, in
// turn, while a partition's records read so far carry no ordo-partitions
// stamp: its last record, then the 31 before, then the 968 before those.
// The last record decides for a topic only ordo writes keyed events to,
// at one fetch, as before the look-back existed; a partition whose last
// 1,000 records all come from other writers is unsure.
var countLookback = []int64{1, 32, 1000}

// countReadMaxBytes bounds the bytes of records read back across all
// partitions and windows; partitions not settled when it is spent are
// unsure.
const countReadMaxBytes = 32 << 20

// stamps is what reading back says about a topic's stamped count.
type stamps struct {
	// count is the largest of the partitions' newest stamps (0 if none
	// was found). The largest, since a topic's count only grows (a topic
	// deleted and made again with fewer partitions starts with no
	// records); not the stamp of the latest timestamp, since a caller's
	// [Timestamp] can back-date a record written after a change.
	count int
	// unknown are the partitions read back as far as allowed (the
	// look-back, the byte budget or ctx) without a stamp, and not to their
	// start: a stamp may be further back.
	unknown []int32
}

// span is one partition's window to read back: [lo, hi); start and end
// are the partition's first and next offsets.
type span struct {
	part       int32
	start, end int64
	lo, hi     int64
}

// newestStamp reads held (partitions that hold records, lo at their end)
// back window by window (countLookback) until each partition's newest
// stamp is found, its start is reached, or the bounds are spent. Only a
// window read through decides: a stamp early in a window cut short may
// be older than one later in it.
func (p *Producer) newestStamp(ctx context.Context, topic string, held []span) (stamps, error) {
	var st stamps
	budget := int64(countReadMaxBytes)
	pending := held
	for i, back := range countLookback {
		var win []span
		for _, s := range pending {
			s.hi, s.lo = s.lo, max(s.start, s.end-back)
			if s.lo < s.hi {
				win = append(win, s)
			} // else read to its start: the partition holds no stamp
		}
		if len(win) == 0 {
			return st, nil
		}
		found, settled, err := p.readWindows(ctx, topic, win, &budget)
		if err != nil && i == 0 {
			return st, err
		}
		pending = pending[:0:0]
		for _, s := range win {
			n, ok := found[s.part]
			switch {
			case settled[s.part] && ok:
				st.count = max(st.count, n)
			case settled[s.part]:
				pending = append(pending, s) // no stamp in this window: look further back
			default:
				st.unknown = append(st.unknown, s.part)
			}
		}
		if err != nil || budget <= 0 {
			break
		}
	}
	for _, s := range pending {
		if s.lo > s.start {
			st.unknown = append(st.unknown, s.part)
		}
	}
	return st, nil
}

// readWindows reads each span's window [lo, hi) and returns, per
// partition, the stamp of the newest stamped record in it, and which
// partitions' windows were read through. It stops when every window is
// read, ctx ends (an error only if no window was read through) or budget
// is spent.
func (p *Producer) readWindows(ctx context.Context, topic string, spans []span, budget *int64) (map[int32]int, map[int32]bool, error) {
	offsets := make(map[int32]kgo.Offset, len(spans))
	hi := make(map[int32]int64, len(spans))
	for _, s := range spans {
		offsets[s.part] = kgo.NewOffset().At(s.lo)
		hi[s.part] = s.hi
	}
	cl, err := kgo.NewClient(append(p.connOpts(),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
		kgo.FetchMaxWait(100*time.Millisecond),
		// A transactional writer's partition ends in a commit or abort
		// marker, which a fetch returns only with this: without it the
		// window's last offset is never reached.
		kgo.KeepControlRecords(),
	)...)
	if err != nil {
		return nil, nil, err
	}
	defer cl.Close()
	found := make(map[int32]int)
	settled := make(map[int32]bool, len(spans))
	for len(settled) < len(spans) && *budget > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			if len(settled) == 0 {
				return nil, nil, ctx.Err()
			}
			break
		}
		fs.EachRecord(func(r *kgo.Record) {
			*budget -= int64(len(r.Key) + len(r.Value))
			end := hi[r.Partition]
			if r.Offset >= end-1 {
				settled[r.Partition] = true // past a gap (a control record) too
			}
			if n, ok := stamp(r); ok && r.Offset < end {
				found[r.Partition] = n // records come in offset order: the newest wins
			}
		})
	}
	return found, settled, nil
}

// stamp returns r's ordo-partitions count, if it carries one.
func stamp(r *kgo.Record) (int, bool) {
	v, ok := header.Get(r.Headers, header.Partitions)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	return n, err == nil && n > 0
}
