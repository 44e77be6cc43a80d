package consumer

import (
	"context"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Where a partition without a committed offset starts, and how soon a
// partition added to a consumed topic is found.
//
// A partition created after the group started holds nothing older than
// its creation, so it is read from its start whatever the start policy:
// under StartAtEnd, starting it at its end skipped every record written
// to it before the consumer noticed it (issue 19: 19,614 of 68,604
// acknowledged events in a 90 s run, silently). So kgo starts every
// partition without a commit at its log start (ConsumeStartOffset), and
// under StartAtEnd, startAt (kgo's AdjustFetchOffsetsFn, run after the
// group's offsets are fetched and before any fetch) moves to the log end
// only those the consumer found in the topic when it was first assigned
// partitions: its first look, kgo's metadata as it joined the group. A
// topic missing from that look (not created yet, or not loaded) has every
// partition read from its start: when unsure, more is read, not less.
//
// The look is per process: a consumer restarted with StartAtEnd after
// partitions were added while the whole group was down finds them in its
// first look, with no commit, and starts them at their end. Nothing can
// tell those apart from old partitions that never had a record to commit.
//
// Finding new partitions is kgo's metadata refresh (MetadataMaxAge,
// DefaultMetadataMaxAge; franz-go's own is 5 minutes): in the classic
// protocol the group's leader rejoins when its metadata shows more
// partitions, and under KIP-848 the broker assigns them. A record stamped
// with a partition count the consumer has not seen before (checkCount)
// also refreshes the metadata at once.

// firstLook is, per consumed topic, the partition count in the
// consumer's first look. Its mu guards counts; the rebalance callbacks
// take it, the poller never does.
type firstLook struct {
	mu     sync.Mutex
	taken  bool
	counts map[string]int32
}

// take records the first look from cl's metadata, once; assigned calls it
// before kgo fetches the group's offsets. kgo reports leader and epoch -1
// for a partition its metadata does not hold (with the topic's load
// error, if any). A partition it holds without a leader counts as the
// end too: the partitions after it are then read from their start, more
// rather than less.
func (l *firstLook) take(cl *kgo.Client, topics []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.taken {
		return
	}
	l.taken = true
	l.counts = make(map[string]int32, len(topics))
	for _, t := range topics {
		var n int32
		for {
			if leader, epoch, _ := cl.PartitionLeader(t, n); leader < 0 && epoch < 0 {
				break
			}
			n++
		}
		l.counts[t] = n
	}
}

// count returns topic's partition count in the first look (0 if the
// topic was not in it).
func (l *firstLook) count(topic string) int32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.counts[topic]
}

// startOpts returns the kgo options that decide where a partition without
// a committed offset starts, and how fresh the metadata is.
func (c *Consumer) startOpts() []kgo.Opt {
	opts := []kgo.Opt{
		kgo.MetadataMaxAge(c.cfg.metadataMaxAge),
		kgo.MetadataMinAge(min(c.cfg.metadataMaxAge, defaultMetadataMinAge)),
	}
	if c.cfg.resetToStart {
		return append(opts, kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	}
	// The reset offset also applies when a committed offset has left the
	// log (OffsetOutOfRange): StartAtEnd skips to the end then, as before.
	return append(opts, kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()),
		kgo.ConsumeStartOffset(kgo.NewOffset().AtStart()),
		kgo.AdjustFetchOffsetsFn(c.startAt))
}

// defaultMetadataMinAge is kgo's own floor between two metadata requests;
// a shorter MetadataMaxAge lowers it too (kgo refuses a max age below it).
const defaultMetadataMinAge = 5 * time.Second

// startAt is kgo's AdjustFetchOffsetsFn under StartAtEnd: a partition
// without a commit (kgo gives it the start offset, the log start, as a
// negative offset) that was in the first look starts at its end; one
// created since keeps its start.
func (c *Consumer) startAt(_ context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	for topic, ps := range offsets {
		n := c.look.count(topic)
		for p, o := range ps {
			if o.EpochOffset().Offset >= 0 { // committed
				continue
			}
			if p < n {
				ps[p] = kgo.NewOffset().AtEnd()
				continue
			}
			c.log.Info("partition created after the consumer started: read from its start",
				"topic", topic, "partition", p, "partitions_at_start", n)
		}
	}
	return offsets, nil
}
