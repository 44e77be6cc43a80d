package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/internal/header"
	"github.com/ordo-go/ordo/internal/quarantine"
)

// The consumer's side of the quarantine-lift contract (consumer/dlq's
// package doc, rules 1 to 5). A partition's quarantined keys live in
// partState.q, under the scheduler's lock; only the lane running a key
// changes that key's entry, so the decision taken when a lane claims a record holds until the
// record settles.

// qkind is what a key's quarantine means for one record.
type qkind uint8

const (
	qNone     qkind = iota // rule 1: handle as usual
	qBehind                // rule 2: dead-letter behind the quarantine
	qRedriven              // rule 3: redriven under the quarantine's chain: handle
)

type qmark struct {
	kind  qkind
	start int64 // the quarantine's start offset S
}

// quarantining reports whether dead letters quarantine their keys.
func (c *config) quarantining() bool {
	return c.policy == DeadLetter && !c.noQuarantine
}

// markQuarantine decides, as a lane claims it, what the record's key's
// quarantine means for it. A record at or before the start offset came
// before the quarantine (a commit can carry a set ahead of its offset):
// it is handled as usual. Cheap when nothing is quarantined.
func markQuarantine(ps *partState, it *item) {
	it.q = qmark{}
	r := it.rec
	if ps.q.Len() == 0 || r.Key == nil {
		return
	}
	e, ok := ps.q.Get(r.Key)
	if !ok || r.Offset <= e.Start {
		return
	}
	if chain, ok := headerInt(r, header.RedriveChain); ok && chain == e.Start {
		it.q = qmark{kind: qRedriven, start: e.Start}
		return
	}
	it.q = qmark{kind: qBehind, start: e.Start}
}

// quarantiner applies settled records to their keys' quarantines: the
// "finished elsewhere" seam of the scheduler (settleLocked) for a dead
// letter or a redriven record. The sets are the partitions' (partState.q),
// changed only under the scheduler's lock; they are store-backed: the
// group's quarantine store (quarantine_store.go) holds them durably, and
// the committer writes their changes to it before each commit. It runs no
// goroutine.
type quarantiner struct {
	stats    *counters
	obs      *observer
	log      *slog.Logger
	group    string      // whose commits date the sets (load)
	maxBytes int         // bounds the decoding of an old consumer's set
	storeCfg storeConfig // the store, opened at the first assignment (quarantine_store.go)
}

// settleLocked applies a finished record to its key's
// quarantine: a dead letter behind it extends it (rule 2), a record that
// failed itself starts it, or restarts it at itself (rule 4), and a
// redriven record that completes its chain lifts it (rule 5). An expired
// record (MaxAge with ExpireDeadLetter) starts nothing: expiry is not a
// failure, and the key's records inside the window are handled
// (TestExpiryDoesNotQuarantine); behind a quarantine it extends it like
// any dead letter. A new key beyond the set's bound is an error
// matching ErrQuarantineFull: the scheduler halts with the record
// unfinished (its offset is not committed), so no later record of the
// key is handled out of order.
func (q *quarantiner) settleLocked(ps *partState, it *item, out outcome) error {
	r := it.rec
	if r.Key == nil {
		return nil
	}
	switch {
	case out.dead && it.q.kind == qBehind:
		ps.commit.qDirty = ps.q.Follow(r.Key, r.Offset) || ps.commit.qDirty
	case out.dead && out.outcome == "expired": // not a failure: nothing starts
	case out.dead:
		if err := ps.q.Start(r.Key, r.Offset); err != nil {
			return q.full(ps, r.Offset)
		}
		ps.commit.qDirty = true
	case it.q.kind == qRedriven:
		lift, ok := headerInt(r, header.RedriveLift)
		if ok && ps.q.Lift(r.Key, it.q.start, lift) {
			ps.commit.qDirty = true
			q.log.Info("quarantine lifted", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset,
				q.obs.logKey(r.Key), "chain", it.q.start)
		}
	}
	return nil
}

// headerInt reads a decimal header of r; ok is false when r lacks it or
// it is not a non-negative number.
func headerInt(r *kgo.Record, key string) (int64, bool) {
	v, ok := header.Get(r.Headers, key)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	return n, err == nil && n >= 0
}

// load reads the quarantined keys of newly assigned partitions from the
// group's quarantine store, as of the group's committed offsets, and
// merges the sets an older consumer committed in the offsets' metadata
// (the upgrade). A coordinator or store partition that is briefly
// unavailable (a real broker's, after a restart) is asked again for up to
// quarantineLoadFor; then the sets stay unknown and the error matches
// ErrQuarantineUnknown.
func (q *quarantiner) load(ctx context.Context, cl *kgo.Client, added map[string][]int32) (map[tp]*quarantine.Set, error) {
	ctx, cancel := context.WithTimeout(ctx, quarantineLoadFor)
	defer cancel()
	adm := kadm.NewClient(cl)
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		resp, err := adm.FetchOffsetsForTopics(ctx, q.group, topicsOf(added)...)
		if err == nil {
			err = resp.Error()
		}
		if errors.Is(err, kerr.GroupIDNotFound) { // kfake's answer for a group that never committed
			resp, err = nil, nil
		}
		if err == nil {
			md := make(map[tp]string)
			resp.Each(func(o kadm.OffsetResponse) { md[tp{o.Topic, o.Partition}] = o.Metadata })
			var sets map[tp]*quarantine.Set
			if sets, err = q.storeLoad(ctx, cl, added, md); err == nil {
				return sets, nil
			}
		}
		if errors.Is(err, ErrQuarantineStore) && !kerr.IsRetriable(err) && !errors.Is(err, context.DeadlineExceeded) {
			return nil, err // the store cannot be opened: Run says which topic and why
		}
		if !kerr.IsRetriable(err) && !errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("%w: %w", ErrQuarantineUnknown, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", ErrQuarantineUnknown, err)
		case <-time.After(wait):
		}
	}
}

// quarantineLoadFor bounds loadQuarantine's retries; it runs in the
// assignment callback, within the group's rebalance timeout.
const quarantineLoadFor = 15 * time.Second

func topicsOf(m map[string][]int32) []string {
	ts := make([]string, 0, len(m))
	for t := range m {
		ts = append(ts, t)
	}
	return ts
}
