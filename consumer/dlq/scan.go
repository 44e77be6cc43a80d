package dlq

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// span is the part of a partition a call reads: [from, to).
type span struct{ from, to int64 }

// bounds returns, for each partition of topic, the span from the group's
// committed offset (or the log start, without a group or a commit) to the
// end offset now. Records written after the call starts are left for the
// next call, so every call ends.
func bounds(ctx context.Context, adm *kadm.Client, topic, group string) (map[int32]span, error) {
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		return nil, fmt.Errorf("dlq: topic %q does not exist: %w", topic, err)
	}
	if err != nil {
		return nil, fmt.Errorf("dlq: list start offsets of %q: %w", topic, err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("dlq: list end offsets of %q: %w", topic, err)
	}
	var committed kadm.OffsetResponses
	if group != "" {
		err = retry(ctx, func() error {
			var err error
			if committed, err = adm.FetchOffsetsForTopics(ctx, group, topic); err == nil {
				err = committed.Error()
			}
			return err
		})
		// A group that never committed is new: Kafka answers with no
		// offsets, kfake with GROUP_ID_NOT_FOUND.
		if errors.Is(err, kerr.GroupIDNotFound) {
			committed, err = nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("dlq: fetch offsets of group %q: %w", group, err)
		}
	}
	out := make(map[int32]span)
	ends.Each(func(e kadm.ListedOffset) {
		sp := span{to: e.Offset}
		if s, ok := starts.Lookup(topic, e.Partition); ok {
			sp.from = s.Offset
		}
		if c, ok := committed.Lookup(topic, e.Partition); ok && c.At > sp.from {
			sp.from = c.At
		}
		out[e.Partition] = sp
	})
	return out, nil
}

// scan reads every record of spans from topic in offset order per
// partition, handing each fetch's records to fn (in partition order, then
// offset order), until every span is read. Cancelling ctx stops it with
// ctx's error.
func scan(ctx context.Context, cl *kgo.Client, topic string, spans map[int32]span, fn func([]*kgo.Record) error) error {
	left := make(map[int32]int64)
	offsets := make(map[int32]kgo.Offset)
	for p, sp := range spans {
		if sp.from < sp.to {
			left[p] = sp.to
			offsets[p] = kgo.NewOffset().At(sp.from)
		}
	}
	if len(left) == 0 {
		return nil
	}
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets})
	defer cl.PurgeTopicsFromConsuming(topic)
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		for _, e := range fs.Errors() {
			return fmt.Errorf("dlq: read %s[%d]: %w", e.Topic, e.Partition, e.Err)
		}
		var batch []*kgo.Record
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			for _, r := range p.Records {
				if end, ok := left[r.Partition]; ok && r.Offset < end {
					batch = append(batch, r)
				}
			}
		})
		sort.SliceStable(batch, func(i, j int) bool { return batch[i].Partition < batch[j].Partition })
		for _, r := range batch {
			if r.Offset+1 >= left[r.Partition] {
				delete(left, r.Partition)
			}
		}
		if err := fn(batch); err != nil {
			return err
		}
	}
	return nil
}

// retry runs fn until it succeeds, fails with an error Kafka does not call
// retriable, or about 30 s have passed. A group's coordinator is not
// available for a moment when the broker first creates
// __consumer_offsets, and kadm hands such answers back rather than
// retrying them.
func retry(ctx context.Context, fn func() error) error {
	const pause, tries = 250 * time.Millisecond, 120
	for i := 0; ; i++ {
		err := fn()
		if err == nil || !kerr.IsRetriable(err) || i == tries-1 {
			return err
		}
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		}
	}
}
