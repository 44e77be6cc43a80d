//go:build integration && faults

package faults

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/internal/faults/check"
	"github.com/ordo-go/ordo/internal/faults/journal"
	"github.com/ordo-go/ordo/internal/faults/tick"
	"github.com/ordo-go/ordo/schema"
)

// pipelineFanout is the number of outputs the pipeline workers derive
// from each input.
const pipelineFanout = 2

// pipelineMembersKilled runs two pipeline workers (cmd/pipeline,
// consumer.Transactional with the member slot's transactional ID) on the
// tick producer's topic, each emitting pipelineFanout outputs per input
// to an output topic, and kills them in turn (SIGKILL once the
// incarnation has handled a record, after 0.2-2.5 s more; restarted after
// 0-1 s), so the group rebalances, transactions abort and records are
// handled again. At the end a read_committed reader must find every
// input's outputs exactly once, each key's in its inputs' order
// (check.Pipeline). With -poison n among memberArgs, the run has a
// dead-letter topic: about one input in n is dead-lettered, its key's
// later inputs follow it, and none of them may have outputs.
func pipelineMembersKilled(memberArgs ...string) func(ctx context.Context, r *run) result {
	return func(ctx context.Context, r *run) result {
		return r.pipelineMembersKilled(ctx, memberArgs)
	}
}

func (r *run) pipelineMembersKilled(ctx context.Context, memberArgs []string) result {
	out := r.topic + ".out"
	if _, err := r.adm.CreateTopic(ctx, r.form.partitions, 3, nil, out); err != nil {
		r.t.Fatalf("create output topic: %v", err)
	}
	r.memberBin = r.bins.pipeline
	r.memberArgs = append([]string{"-out", out, "-fanout", fmt.Sprint(pipelineFanout)}, memberArgs...)
	if slices.Contains(memberArgs, "-poison") {
		r.withDeadLetters(ctx)
	}
	// The slot's transactional ID, the same for each of its incarnations.
	start := func(i int) {
		r.startMember(i, slices.Concat(r.memberArgs, []string{"-txn-id", fmt.Sprintf("%s.m%d", r.group, i)})...)
	}
	r.startProducer()
	start(0)
	start(1)
	kills := 0
	for ; r.producing(); kills++ {
		i := kills % 2
		r.waitHandled(i, 1, time.Minute)
		time.Sleep(r.between(200*time.Millisecond, 2500*time.Millisecond))
		r.kill(ctx, i)
		time.Sleep(r.between(0, time.Second))
		start(i)
	}
	r.settle(ctx)
	evs, err := journal.Read(filepath.Join(r.dir, "producer.jsonl"), filepath.Join(r.dir, "consumer.jsonl"))
	if err != nil {
		r.t.Fatal(err)
	}
	if r.dlt != "" {
		evs = append(evs, r.readDeadLetters(ctx)...)
	}
	outputs := r.readOutputs(ctx, out, kgo.ReadCommitted())
	written := len(r.readOutputs(ctx, out, kgo.ReadUncommitted()))
	rep := check.Pipeline(evs, r.readTopic(ctx), outputs, pipelineFanout)
	r.t.Logf("acked %d, in topic %d, outputs read_committed %d (written, aborted ones included, %d), inputs handled again %d, "+
		"dead-lettered %d, lost %d, doubled %d, stray %d, out of order %d, quarantine broken %d; kills %d%s",
		rep.Acked, rep.InLog, rep.Outputs, written, rep.Redelivered, rep.DeadLettered, len(rep.Lost), len(rep.Doubled), len(rep.Stray),
		len(rep.Order), len(rep.Quarantine), kills, firsts(rep.Lost, rep.Doubled, rep.Stray, rep.Order, rep.Quarantine))
	v := rep.Verdict()
	switch {
	case v != nil:
	case rep.Redelivered == 0:
		// Kills above the commit point hand records over to be handled
		// again: with none, the run did not test the transactions.
		v = fmt.Errorf("no input was handled twice: the kills redelivered nothing")
	case r.dlt != "" && rep.DeadLettered == 0:
		v = fmt.Errorf("nothing was dead-lettered: the run did not test the quarantine")
	}
	return result{acked: rep.Acked, lost: len(rep.Lost), unhandled: len(rep.Stray), dups: rep.Redelivered,
		unexplained: len(rep.Doubled), order: len(rep.Order) + len(rep.Quarantine), dead: rep.DeadLettered, faults: kills, verdict: v}
}

// readOutputs reads the pipeline's output topic with the isolation level
// given; each output names its input in its pad ("partition/offset/index").
func (r *run) readOutputs(ctx context.Context, topic string, iso kgo.IsolationLevel) []check.Output {
	codec, err := schema.NewCodec[tick.Tick](tick.Avsc)
	if err != nil {
		r.t.Fatal(err)
	}
	var out []check.Output
	r.readAll(ctx, topic, func(rec *kgo.Record) {
		var ev tick.Tick
		if _, body, err := schema.Unframe(rec.Value); err != nil {
			r.t.Errorf("%s p%d@%d: %v", topic, rec.Partition, rec.Offset, err)
		} else if err := codec.Decode(body, &ev); err != nil {
			r.t.Errorf("%s p%d@%d: %v", topic, rec.Partition, rec.Offset, err)
		}
		o := check.Output{Partition: rec.Partition, Offset: rec.Offset, Key: string(rec.Key), Seq: ev.Seq, Index: -1}
		if _, err := fmt.Sscanf(ev.Pad, "%d/%d/%d", &o.InPartition, &o.InOffset, &o.Index); err != nil {
			r.t.Errorf("%s p%d@%d: pad %q: %v", topic, rec.Partition, rec.Offset, ev.Pad, err)
		}
		out = append(out, o)
	}, kgo.FetchIsolationLevel(iso))
	return out
}
