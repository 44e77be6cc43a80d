package consumer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/internal/quarantine"
)

// The quarantiner's durable side: the group's quarantine store, a
// compacted topic (internal/quarantine's doc, "Store", says why a topic
// and not the commit metadata or the dead-letter topic read back). The
// first assignment opens it when dead letters quarantine their keys (kgo
// may join the group before Run: the callback is the first to need it),
// and loads the partitions' sets from it (quarantiner.load); a store that
// cannot be opened halts the consumer. The committer flushes it
// before each commit and confirms it after (commit.go); a revoke or a
// loss releases the partitions; the stop closes it after the final
// commit.

// minStorePartitions is the store topic's partition count when Run creates
// it, unless a consumed topic has more partitions: then as many as that
// topic, so that each of its partitions has a store partition of its own
// and a new owner reads only its partitions' entries.
const minStorePartitions = 64

// ErrQuarantineStore is matched by the error Run returns when the group's
// quarantine store (see [QuarantineTopic]) cannot be opened: its topic is
// missing and cannot be created, or exists but is not compacted, or cannot
// be read. The error names the topic.
var ErrQuarantineStore = errors.New("consumer: quarantine store unavailable")

// ErrQuarantineFull is matched by the error Run returns when a new key
// would be quarantined in a partition that already holds
// [QuarantineMaxKeys] quarantined keys: the consumer halts rather than
// handle the key's later records out of order (see [QuarantineMaxKeys]).
var ErrQuarantineFull = errors.New("consumer: quarantine full")

// storeConfig is what the quarantiner opens its store with.
type storeConfig struct {
	topics  []string // consumed: the store has as many partitions as the largest
	base    quarantine.StoreConfig
	mu      sync.Mutex // serializes opening
	opened  atomic.Pointer[quarantine.Store]
	openErr error // the first failure, kept: Run returns it
}

// openStore returns the group's quarantine store, opening it (and
// creating its topic, compacted, with as many partitions as the largest
// consumed topic and at least minStorePartitions) on first use.
func (q *quarantiner) openStore(ctx context.Context, cl *kgo.Client) (*quarantine.Store, error) {
	sc := &q.storeCfg
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if st := sc.opened.Load(); st != nil || sc.openErr != nil {
		return st, sc.openErr
	}
	cfg := sc.base
	cfg.Partitions = minStorePartitions
	if tds, err := kadm.NewClient(cl).ListTopics(ctx, sc.topics...); err == nil {
		for _, td := range tds {
			cfg.Partitions = max(cfg.Partitions, int32(len(td.Partitions)))
		}
	}
	st, err := quarantine.OpenStore(ctx, cfg)
	if err == nil {
		sc.opened.Store(st)
		return st, nil
	}
	topic := cfg.Topic
	if topic == "" {
		topic = quarantine.TopicFor(cfg.Group)
	}
	if errors.Is(err, kerr.TopicAuthorizationFailed) || errors.Is(err, kerr.ClusterAuthorizationFailed) {
		err = fmt.Errorf("%w: topic %q cannot be created: the consumer's principal needs CREATE on it (or on the cluster), "+
			"with READ, WRITE and DESCRIBE_CONFIGS; or create it beforehand with cleanup.policy=compact, or name another with QuarantineTopic: %w",
			ErrQuarantineStore, topic, err)
	} else {
		err = fmt.Errorf("%w: topic %q: %w", ErrQuarantineStore, topic, err)
	}
	if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) && !kerr.IsRetriable(err) {
		sc.openErr = err // a refusal: not asked again
	}
	return nil, err
}

// store is the quarantine store, nil until the first assignment opened it.
func (q *quarantiner) store() *quarantine.Store { return q.storeCfg.opened.Load() }

// storeLoad reads the sets of added's partitions from the store, and
// merges into each the set an older consumer left in the partition's
// commit metadata (md, by partition), so the upgrade loses no quarantine.
func (q *quarantiner) storeLoad(ctx context.Context, cl *kgo.Client, added map[string][]int32, md map[tp]string) (map[tp]*quarantine.Set, error) {
	st, err := q.openStore(ctx, cl)
	if err != nil {
		return nil, err
	}
	loaded, err := st.LoadAll(ctx, added)
	if err != nil {
		return nil, err
	}
	sets := make(map[tp]*quarantine.Set, len(loaded))
	for k, set := range loaded {
		t := tp{k.Topic, k.Partition}
		if old := q.legacy(t, md[t]); old != nil && old.Len() > 0 {
			set.Merge(old)
			q.log.Info("quarantined keys merged from the commit metadata into the store",
				"topic", t.topic, "partition", t.partition, "keys", old.Len())
		}
		sets[t] = set
		if set.Len() > 0 {
			q.log.Info("quarantined keys restored", "topic", t.topic, "partition", t.partition, "keys", set.Len())
		}
	}
	return sets, nil
}

// legacyMaxBytes bounds the decoding of an old consumer's set: larger
// than any broker's offset.metadata.max.bytes default, so none is refused.
const legacyMaxBytes = 1 << 20

// legacy decodes the set an older consumer committed in md, nil if none.
func (q *quarantiner) legacy(t tp, md string) *quarantine.Set {
	set, err := quarantine.Decode(md, max(q.maxBytes, legacyMaxBytes))
	if err != nil && !errors.Is(err, quarantine.ErrNoSet) {
		q.log.Error("old quarantine set in the commit metadata unreadable: not merged",
			"topic", t.topic, "partition", t.partition, "error", err)
		return nil
	}
	return set
}

// flush writes to the store the quarantine changes that committing marks
// passes, and waits for the brokers to acknowledge them: the committer
// calls it before every commit of marks (a plain commit or a
// transaction's), and commits nothing if it fails. It returns the commit
// points to confirm with committed once the commit succeeded.
func (q *quarantiner) flush(ctx context.Context, marks map[string]map[int32]kgo.EpochOffset) (map[quarantine.TP]int64, error) {
	points := make(map[quarantine.TP]int64)
	for t, ps := range marks {
		for p, eo := range ps {
			points[quarantine.TP{Topic: t, Partition: p}] = eo.Offset
		}
	}
	if st := q.store(); st != nil {
		if err := st.Flush(ctx, points); err != nil {
			return nil, fmt.Errorf("quarantine store: %w", err)
		}
	}
	return points, nil
}

// committed confirms points, flushed by flush, as committed.
func (q *quarantiner) committed(points map[quarantine.TP]int64) {
	if st := q.store(); st != nil {
		st.Committed(points)
	}
}

// release forgets the store's sets of parts (revoked or lost), after
// their last commit.
func (q *quarantiner) release(parts []*partState) {
	st := q.store()
	if st == nil {
		return
	}
	for _, ps := range parts {
		st.Release(quarantine.TP{Topic: ps.tp.topic, Partition: ps.tp.partition})
	}
}

// full is the halt for a new key the set of ps cannot take: logged once
// (the consumer stops), counted, and returned to Run.
func (q *quarantiner) full(ps *partState, offset int64) error {
	r := ps.tp
	q.stats.quarantineFull.Add(1)
	q.obs.ins.qFull.Add(context.Background(), 1, ps.met.add...)
	q.log.Error("quarantine full: the consumer halts rather than handle a dead-lettered key's later records out of order; "+
		"raise QuarantineMaxKeys or redrive the dead letters",
		"topic", r.topic, "partition", r.partition, "offset", offset, "keys", ps.q.Len(), "max_keys", ps.q.Cap())
	return fmt.Errorf("%w: %s/%d at offset %d: %d keys quarantined, QuarantineMaxKeys %d",
		ErrQuarantineFull, r.topic, r.partition, offset, ps.q.Len(), ps.q.Cap())
}
