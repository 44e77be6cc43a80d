package quarantine

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Flush writes to the store, and waits for the brokers to acknowledge,
// every change of the sets of points' partitions that a commit of their
// offsets in points would pass (and the earlier ones not yet written): the
// committer calls it before committing points, and commits only if it
// returns nil, so the store is never behind the committed offsets. After
// the commit it calls [Store.Committed] with the offsets committed.
//
// Calls of Flush and Committed for one partition must not overlap (one
// committer). If the last Flush of a partition was followed neither by
// Committed nor by a failure the committer is sure of, Flush first reads
// the group's committed offset of the partition, since a commit reported
// as failed may have been applied.
//
// Cancelling ctx makes Flush return ctx's error; its records may still be
// written, and are written again by the next Flush. A record the brokers
// refuse is an error too; the changes stay to be written.
func (s *Store) Flush(ctx context.Context, points map[TP]int64) error {
	js, err := s.journals(points)
	if err != nil {
		return err
	}
	if err := s.resolve(ctx, js); err != nil {
		return err
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		ferr error
	)
	for tp, j := range js {
		sp := s.partitionOf(tp)
		for _, o := range j.stage(points[tp]) {
			wg.Add(1)
			r := &kgo.Record{Topic: s.topic, Partition: sp, Key: recordKey(tp, o.h), Value: o.val}
			s.cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
				defer wg.Done()
				if err == nil {
					j.written([]out{o})
					return
				}
				mu.Lock()
				if ferr == nil {
					ferr = fmt.Errorf("write quarantine store %s/%d: %w", tp.Topic, tp.Partition, err)
				}
				mu.Unlock()
			})
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }() // ends when every record is acknowledged or failed
	select {
	case <-done:
		return ferr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Committed records that points' offsets are committed: each partition's
// set can forget the changes before them, and tombstone keys lifted
// before them so compaction drops their records.
func (s *Store) Committed(points map[TP]int64) {
	js, err := s.journals(points)
	if err != nil {
		return
	}
	for tp, j := range js {
		j.confirm(points[tp])
	}
}

// journals returns the sets of points' partitions that the store holds.
func (s *Store) journals(points map[TP]int64) (map[TP]*journal, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	js := make(map[TP]*journal, len(points))
	for tp := range points {
		if j := s.sets[tp]; j != nil {
			js[tp] = j
		}
	}
	return js, nil
}

// resolve confirms, from the group's committed offsets, the partitions of
// js whose last flush's commit is unknown.
func (s *Store) resolve(ctx context.Context, js map[TP]*journal) error {
	var unknown []TP
	for tp, j := range js {
		if j.unconfirmed() {
			unknown = append(unknown, tp)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	cs, err := s.committedOffsets(ctx, unknown)
	if err != nil {
		return err
	}
	for _, tp := range unknown {
		js[tp].confirm(cs[tp])
	}
	return nil
}

// committedOffsets returns the group's committed offsets of tps, -1 for a
// partition without one.
func (s *Store) committedOffsets(ctx context.Context, tps []TP) (map[TP]int64, error) {
	seen := make(map[string]bool)
	var topics []string
	for _, tp := range tps {
		if !seen[tp.Topic] {
			seen[tp.Topic] = true
			topics = append(topics, tp.Topic)
		}
	}
	resp, err := s.adm.FetchOffsetsForTopics(ctx, s.cfg.Group, topics...)
	if err == nil {
		err = resp.Error()
	}
	if errors.Is(err, kerr.GroupIDNotFound) { // kfake's answer for a group that never committed
		resp, err = nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("quarantine store: committed offsets of group %q: %w", s.cfg.Group, err)
	}
	cs := make(map[TP]int64, len(tps))
	for _, tp := range tps {
		cs[tp] = -1
		if o, ok := resp.Lookup(tp.Topic, tp.Partition); ok && o.At >= 0 {
			cs[tp] = o.At
		}
	}
	return cs, nil
}
