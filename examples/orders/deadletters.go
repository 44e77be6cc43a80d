package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/consumer/dlq"
)

// redrive is the operator's step once the cause is fixed: republish this
// run's dead letters (its redrive group starts where the dead-letter topic
// ended when the run started, see startHere) to the orders topic, in
// order, through consumer/dlq, as `go run ./examples/dlq redrive` would.
// Every chain is selected but one whose first record is not a Confluent
// frame: no deploy can ever read that record, and redriving it would only
// dead-letter it, and the events of its order behind it, again. They stay
// in the dead-letter topic for a human, and its order stays quarantined.
func redrive(ctx context.Context, cfg config, group string, log *slog.Logger) (dlq.RedriveReport, error) {
	c, err := dlq.New(dlq.Brokers(cfg.brokers...), dlq.WithLogger(log))
	if err != nil {
		return dlq.RedriveReport{}, err
	}
	defer c.Close()
	reasons := slices.DeleteFunc(slices.Clone(dlq.Reasons), func(r dlq.Reason) bool { return r == dlq.Unframe })
	return c.Redrive(ctx, dlq.RedriveConfig{
		Topic:  cfg.dlt,
		Group:  redriveGroup(group),
		Filter: dlq.Filter{Reasons: reasons},
	})
}

func redriveGroup(group string) string { return group + "-redrive" }

// redriveNotes says what the redrive passed over, held and lifted, from
// its report: the summary describes the redrive the run made.
func redriveNotes(r dlq.RedriveReport) string {
	var notes []string
	if r.Filtered > 0 {
		notes = append(notes, fmt.Sprintf("%d passed over: the unreadable record's chain", r.Filtered))
	}
	if r.LoopGuarded > 0 {
		notes = append(notes, fmt.Sprintf("%d stopped by the loop guard, %d held behind them", r.LoopGuarded, r.Held))
	}
	if r.Malformed > 0 {
		notes = append(notes, fmt.Sprintf("%d with unreadable dead-letter headers", r.Malformed))
	}
	return strings.Join(append(notes, fmt.Sprintf("%d quarantined keys lifted", r.Lifted)), "; ")
}

// startHere commits the end offsets of topic's partitions now as group's
// offsets, so that the group, new, starts there instead of at the start of
// the topic, and returns them.
func startHere(ctx context.Context, brokers []string, group, topic string) (map[int32]int64, error) {
	_, ends, err := offsetSpan(ctx, brokers, topic)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var offs kadm.Offsets
	for p, end := range ends {
		offs.Add(kadm.Offset{Topic: topic, Partition: p, At: end, LeaderEpoch: -1})
	}
	if err := kadm.NewClient(cl).CommitAllOffsets(ctx, group, offs); err != nil {
		return nil, fmt.Errorf("start group %q at the end of %q: %w", group, topic, err)
	}
	return ends, nil
}

// deadLetters is what the dead-letter topic holds at the end of the run.
type deadLetters struct {
	written  int                // dead letters written by this run's group
	byReason map[dlq.Reason]int // of those
	keys     int                // keys they quarantined: one per (topic, partition, key)
	ids      map[string]bool    // the ordo-id of every event in the topic
}

// readDeadLetters reads the dead-letter topic from its start to its end
// offsets now, and counts what group wrote to it.
func readDeadLetters(ctx context.Context, cfg config, group string) (deadLetters, error) {
	dl := deadLetters{byReason: make(map[dlq.Reason]int), ids: make(map[string]bool)}
	keys := make(map[string]bool)
	err := readTopic(ctx, cfg.brokers, cfg.dlt, func(r *kgo.Record) {
		for _, h := range r.Headers {
			if h.Key == "ordo-id" {
				dl.ids[string(h.Value)] = true
			}
		}
		info, err := dlq.Parse(r)
		if err != nil || info.Group != group {
			return
		}
		dl.written++
		dl.byReason[info.Reason]++
		keys[fmt.Sprintf("%s/%d/%q", info.Topic, info.Partition, r.Key)] = true
	})
	dl.keys = len(keys)
	return dl, err
}

// reasons lists the counts by reason, in dlq.Reasons' order.
func (dl deadLetters) reasons() string {
	s := ""
	for _, r := range dlq.Reasons {
		if n := dl.byReason[r]; n > 0 {
			if s != "" {
				s += ", "
			}
			s += fmt.Sprintf("%s %d", r, n)
		}
	}
	return s
}

// readTopic hands fn every record of topic from its start to its end
// offsets at the call, in offset order per partition.
func readTopic(ctx context.Context, brokers []string, topic string, fn func(*kgo.Record)) error {
	starts, ends, err := offsetSpan(ctx, brokers, topic)
	if err != nil {
		return err
	}
	parts := make(map[int32]kgo.Offset)
	for p, end := range ends {
		if end > starts[p] {
			parts[p] = kgo.NewOffset().At(starts[p])
		}
	}
	left := len(parts) // partitions not read to their end yet
	if left == 0 {
		return nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}))
	if err != nil {
		return err
	}
	defer cl.Close()
	for left > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return fmt.Errorf("read %q: %w", topic, ferr)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset >= ends[r.Partition] {
				return
			}
			fn(r)
			if r.Offset == ends[r.Partition]-1 {
				left--
			}
		})
	}
	return nil
}

// offsetSpan returns the start and end offsets of topic's partitions.
func offsetSpan(ctx context.Context, brokers []string, topic string) (starts, ends map[int32]int64, err error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return nil, nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	so, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = so.Error()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("start offsets of %q: %w", topic, err)
	}
	eo, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = eo.Error()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("end offsets of %q: %w", topic, err)
	}
	starts, ends = make(map[int32]int64), make(map[int32]int64)
	so.Each(func(o kadm.ListedOffset) { starts[o.Partition] = o.Offset })
	eo.Each(func(o kadm.ListedOffset) { ends[o.Partition] = o.Offset })
	return starts, ends, nil
}

// recordsSince is the number of records written to topic since its
// partitions ended at from.
func recordsSince(ctx context.Context, brokers []string, topic string, from map[int32]int64) (int64, error) {
	_, ends, err := offsetSpan(ctx, brokers, topic)
	var n int64
	for p, end := range ends {
		n += end - from[p]
	}
	return n, err
}
