package consumer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
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
// only the partitions of a topic the group starts afresh on: one on which
// the group had no committed offset at the consumer's first look (its
// first assignment), and only those partitions the topic had then (kgo's
// metadata as it joined). It commits that end at once (tagged as a
// start), so that every partition the group has started on has a commit
// even if no record ever comes: then a partition without a commit, in a
// topic on which the group has committed a handled record, is one created
// since, and is read from its start, also by a consumer restarted after
// partitions were added while the group was down. Start commits do not
// count: they may be another member's, made a moment ago in the same
// first generation, whose own partitions have no commit yet. Two windows
// stay: a group that never handled a record of the topic is fresh again
// on a restart (partitions added while it was down start at their end);
// and a member whose first look comes after another member of the first
// generation committed a handled record reads its uncommitted partitions
// from their start. A topic missing from the first look (not created yet,
// or not loaded) has every partition read from its start: when unsure,
// more is read, not less. A partition whose end was taken but not yet
// committed when its consumer crashed is read from its start on the
// restart.
//
// Finding new partitions is kgo's metadata refresh (MetadataMaxAge,
// DefaultMetadataMaxAge; franz-go's own is 5 minutes): in the classic
// protocol the group's leader rejoins when its metadata shows more
// partitions, and under KIP-848 the broker assigns them. A record stamped
// with a partition count the consumer has not seen before (checkCount)
// also refreshes the metadata at once.

// firstLook is what the consumer saw of its topics at its first
// assignment: the partition counts in kgo's metadata, and whether the
// group had committed on each topic. Its mu guards every field; the
// rebalance callbacks and startAt take it, the poller never does.
type firstLook struct {
	mu     sync.Mutex
	cl     *kgo.Client
	counts map[string]int32 // nil until the first assignment
	ran    map[string]bool  // nil until startAt first fetched the group's offsets
}

// take records the first look's partition counts from cl's metadata,
// once; assigned calls it before kgo fetches the group's offsets. kgo
// reports leader and epoch -1 for a partition its metadata does not hold
// (with the topic's load error, if any). A partition it holds without a
// leader counts as the end too: the partitions after it are then read
// from their start, more rather than less.
func (l *firstLook) take(cl *kgo.Client, topics []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.counts != nil {
		return
	}
	l.cl = cl
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

// groupRan records, once, on which of topics the group has a committed
// offset other than a start (startTag): a start commit can be another
// member's of this same first generation, whose partitions started at
// their end a moment ago. It returns the client of the first look.
func (l *firstLook) groupRan(ctx context.Context, group string, topics []string) (*kgo.Client, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ran != nil {
		return l.cl, nil
	}
	if l.cl == nil { // kgo calls OnPartitionsAssigned first: not expected
		return nil, errors.New("offsets fetched before the first assignment")
	}
	resp, err := kadm.NewClient(l.cl).FetchOffsetsForTopics(ctx, group, topics...)
	if err == nil {
		err = resp.Error()
	}
	if errors.Is(err, kerr.GroupIDNotFound) { // no commit yet
		resp, err = nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fetch the group's offsets: %w", err)
	}
	l.ran = make(map[string]bool, len(topics))
	resp.Each(func(o kadm.OffsetResponse) {
		if o.At >= 0 && o.Metadata != startTag {
			l.ran[o.Topic] = true
		}
	})
	return l.cl, nil
}

// fresh reports whether partition p of topic starts at its end under
// StartAtEnd: the group had committed no handled record of the topic,
// and p was in the first look.
func (l *firstLook) fresh(topic string, p int32) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.ran[topic] && p < l.counts[topic]
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

// startAt is kgo's AdjustFetchOffsetsFn under StartAtEnd. A partition
// without a commit (kgo gives it the start offset, the log start, as a
// negative offset) starts at its end if it is fresh, and that end is
// committed; any other keeps its start. An error ends kgo's group session,
// which fetches the offsets again when it rejoins.
func (c *Consumer) startAt(ctx context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	cl, err := c.look.groupRan(ctx, c.cfg.group, c.cfg.topics)
	if err != nil {
		return nil, fmt.Errorf("start offsets: %w", err)
	}
	fresh := make(map[string][]int32)
	for topic, ps := range offsets {
		for p, o := range ps {
			switch {
			case o.EpochOffset().Offset >= 0: // committed
			case c.look.fresh(topic, p):
				fresh[topic] = append(fresh[topic], p)
			default:
				c.log.Info("partition the group has not started on, created after it started: read from its start",
					"topic", topic, "partition", p)
			}
		}
	}
	if len(fresh) == 0 {
		return offsets, nil
	}
	marks, err := endsOf(ctx, cl, fresh)
	if err != nil {
		return nil, fmt.Errorf("start offsets: %w", err)
	}
	for topic, ps := range marks {
		for p, end := range ps {
			offsets[topic][p] = kgo.NewOffset().At(end.Offset)
		}
	}
	if err := commitStarts(ctx, cl, marks); err != nil {
		c.log.Warn("commit of the start offsets failed: a restart before the first record is handled reads those partitions from their start",
			"error", err)
	}
	return offsets, nil
}

// endsOf returns the end offsets of parts, as marks to commit.
func endsOf(ctx context.Context, cl *kgo.Client, parts map[string][]int32) (map[string]map[int32]kgo.EpochOffset, error) {
	topics := make([]string, 0, len(parts))
	for t := range parts {
		topics = append(topics, t)
	}
	listed, err := kadm.NewClient(cl).ListEndOffsets(ctx, topics...)
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("list end offsets: %w", err)
	}
	marks := make(map[string]map[int32]kgo.EpochOffset, len(parts))
	for t, ps := range parts {
		marks[t] = make(map[int32]kgo.EpochOffset, len(ps))
		for _, p := range ps {
			end, ok := listed.Lookup(t, p)
			if !ok {
				return nil, fmt.Errorf("list end offsets: %s/%d missing from the answer", t, p)
			}
			marks[t][p] = kgo.EpochOffset{Epoch: -1, Offset: end.Offset}
		}
	}
	return marks, nil
}

// startTag is the metadata of a start commit, which a quarantine load
// reads as no quarantined keys.
const startTag = "ordo-start"

// commitStarts commits marks through cl, the client kgo hands the
// rebalance callbacks (c.cl may not be set yet: a group can be joined
// before New returns), with startTag as each partition's metadata.
func commitStarts(ctx context.Context, cl *kgo.Client, marks map[string]map[int32]kgo.EpochOffset) error {
	ctx = kgo.PreCommitFnContext(ctx, func(req *kmsg.OffsetCommitRequest) error {
		md := startTag
		for i := range req.Topics {
			for j := range req.Topics[i].Partitions {
				req.Topics[i].Partitions[j].Metadata = &md
			}
		}
		return nil
	})
	var cerr error
	cl.CommitOffsetsSync(ctx, marks, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			cerr = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if e := kerr.ErrorForCode(p.ErrorCode); e != nil && cerr == nil {
					cerr = fmt.Errorf("%s/%d: %w", t.Topic, p.Partition, e)
				}
			}
		}
	})
	return cerr
}
