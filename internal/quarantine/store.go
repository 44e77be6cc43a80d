package quarantine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	// DefaultMaxKeys bounds a store-backed set by default: the most keys
	// of one partition quarantined at once (see the package doc, "Store:
	// bounds and memory", for what a key costs).
	DefaultMaxKeys = 1_000_000
	// DefaultStorePartitions is the store topic's partition count when
	// [StoreConfig.Partitions] is 0 and the topic is created.
	DefaultStorePartitions = 16
	// TopicSuffix ends the store topic's name derived from the group.
	TopicSuffix = ".ordo-quarantine"
)

var (
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("quarantine: store closed")
	// ErrStoreTopic: the store topic exists but cannot hold the store: it
	// is not compacted (its entries would expire and quarantines with
	// them).
	ErrStoreTopic = errors.New("quarantine: store topic unusable")
)

// TP names a source partition.
type TP struct {
	Topic     string
	Partition int32
}

// StoreConfig configures [OpenStore].
type StoreConfig struct {
	// Group is the consumer group whose quarantines the store holds, and
	// whose committed offsets date them. Required.
	Group string
	// Topic overrides the store topic's name, [TopicFor](Group) by
	// default.
	Topic string
	// Partitions is the store topic's partition count when OpenStore
	// creates it (an existing topic keeps its own), [DefaultStorePartitions]
	// if 0. A source partition's entries are in one store partition;
	// with at least as many store partitions as a source topic has, each
	// of that topic's partitions has one of its own. Never add partitions
	// to a store topic: entries would be looked for in the wrong one.
	Partitions int32
	// ReplicationFactor of a created topic; 0 is the broker's default.
	ReplicationFactor int16
	// MaxKeys bounds each partition's set ([DefaultMaxKeys] if 0); a new
	// key beyond it is [ErrFull].
	MaxKeys int
	// Opts connect the store's own clients (seed brokers, TLS, SASL). The
	// store writes with acks=all and idempotence, kgo's defaults.
	Opts []kgo.Opt
}

// Store keeps the quarantined keys of a group's partitions in a compacted
// topic the group owns (see the package doc, "Store"). It is safe for
// concurrent use; each [Set] it loads belongs to its partition's owner.
type Store struct {
	cfg   StoreConfig
	topic string
	parts int32
	cl    *kgo.Client // writes; owned
	adm   *kadm.Client

	mu     sync.Mutex
	sets   map[TP]*journal
	closed bool
}

// TopicFor is the store topic of group: group followed by [TopicSuffix],
// with characters a topic name cannot hold replaced by '_' and, when
// anything was replaced or the name would be too long, a hash of the
// group appended so that two groups never share a store.
func TopicFor(group string) string {
	clean := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-' {
			return r
		}
		return '_'
	}, group)
	if clean == group && len(group)+len(TopicSuffix) <= 249 {
		return group + TopicSuffix
	}
	h := fnv.New64a()
	h.Write([]byte(group))
	clean = clean[:min(len(clean), 249-len(TopicSuffix)-17)]
	return fmt.Sprintf("%s-%016x%s", clean, h.Sum64(), TopicSuffix)
}

// OpenStore connects to the store topic, creating it (compacted) if it is
// missing. ctx bounds the connection and creation; it is not kept.
func OpenStore(ctx context.Context, cfg StoreConfig) (*Store, error) {
	if cfg.Group == "" {
		return nil, errors.New("quarantine: store needs a group")
	}
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = DefaultMaxKeys
	}
	if cfg.Partitions <= 0 {
		cfg.Partitions = DefaultStorePartitions
	}
	s := &Store{cfg: cfg, topic: cfg.Topic, sets: make(map[TP]*journal)}
	if s.topic == "" {
		s.topic = TopicFor(cfg.Group)
	}
	cl, err := kgo.NewClient(append(cfg.Opts[:len(cfg.Opts):len(cfg.Opts)],
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))...)
	if err != nil {
		return nil, fmt.Errorf("quarantine store client: %w", err)
	}
	s.cl, s.adm = cl, kadm.NewClient(cl)
	if s.parts, err = s.ensureTopic(ctx); err != nil {
		cl.Close()
		return nil, err
	}
	return s, nil
}

// ensureTopic creates the store topic if it is missing and returns its
// partition count; an existing topic must be compacted. A topic just
// created shows in the brokers' metadata a moment later (they answer
// UNKNOWN_TOPIC_OR_PARTITION, or a partition has no leader yet, until it
// does): retriable answers are asked again for up to settleWait.
func (s *Store) ensureTopic(ctx context.Context) (int32, error) {
	compact := "compact"
	rf := s.cfg.ReplicationFactor
	if rf == 0 {
		rf = -1 // the broker's default (default.replication.factor); a real broker refuses 0
	}
	_, err := s.adm.CreateTopic(ctx, s.cfg.Partitions, rf,
		map[string]*string{"cleanup.policy": &compact}, s.topic)
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return 0, fmt.Errorf("create quarantine store %q: %w", s.topic, err)
	}
	ctx, cancel := context.WithTimeout(ctx, settleWait)
	defer cancel()
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		n, err := s.describeTopic(ctx)
		if err == nil || !retriable(err) {
			return n, err
		}
		select {
		case <-ctx.Done():
			return 0, err
		case <-time.After(wait):
		}
	}
}

// settleWait bounds how long ensureTopic waits for the store topic to
// show in the metadata with a leader for each partition.
const settleWait = 30 * time.Second

// errNotSettled is a store topic listed without partitions, or with a
// partition without a leader: retriable.
var errNotSettled = errors.New("not every partition has a leader yet")

func retriable(err error) bool {
	return errors.Is(err, errNotSettled) || kerr.IsRetriable(err)
}

// describeTopic checks the store topic's cleanup policy and returns its
// partition count once every partition has a leader.
func (s *Store) describeTopic(ctx context.Context) (int32, error) {
	rcs, err := s.adm.DescribeTopicConfigs(ctx, s.topic)
	if err != nil {
		return 0, fmt.Errorf("describe quarantine store %q: %w", s.topic, err)
	}
	rc, err := rcs.On(s.topic, nil)
	if err == nil {
		err = rc.Err
	}
	if err != nil {
		return 0, fmt.Errorf("describe quarantine store %q: %w", s.topic, err)
	}
	for _, c := range rc.Configs {
		if c.Key == "cleanup.policy" && (c.Value == nil || !strings.Contains(*c.Value, "compact")) {
			return 0, fmt.Errorf("%w: %q has cleanup.policy=%s, want compact", ErrStoreTopic, s.topic, c.MaybeValue())
		}
	}
	tds, err := s.adm.ListTopics(ctx, s.topic)
	if err != nil {
		return 0, fmt.Errorf("quarantine store %q metadata: %w", s.topic, err)
	}
	td, ok := tds[s.topic]
	switch {
	case !ok:
		return 0, fmt.Errorf("quarantine store %q metadata: %w", s.topic, kerr.UnknownTopicOrPartition)
	case td.Err != nil:
		return 0, fmt.Errorf("quarantine store %q metadata: %w", s.topic, td.Err)
	case len(td.Partitions) == 0:
		return 0, fmt.Errorf("quarantine store %q metadata: %w", s.topic, errNotSettled)
	}
	for _, p := range td.Partitions {
		if p.Err != nil || p.Leader < 0 {
			return 0, fmt.Errorf("quarantine store %q partition %d: %w", s.topic, p.Partition, cmp.Or(p.Err, errNotSettled))
		}
	}
	return int32(len(td.Partitions)), nil
}

// Topic is the store topic's name.
func (s *Store) Topic() string { return s.topic }

// partitionOf is the store partition holding tp's entries: the topic's
// hash plus the partition, mod the store's partition count, so that one
// topic's partitions spread over the store's partitions one to one.
func (s *Store) partitionOf(tp TP) int32 {
	h := fnv.New32a()
	h.Write([]byte(tp.Topic))
	return int32((uint64(h.Sum32()) + uint64(uint32(tp.Partition))) % uint64(s.parts))
}

// Close releases the store's client; records not yet flushed are not
// written (the offsets they would have let through are not committed
// either). Idempotent.
func (s *Store) Close() {
	s.mu.Lock()
	closed := s.closed
	s.closed = true
	s.mu.Unlock()
	if !closed {
		s.cl.Close()
	}
}

// Release forgets tp's set (its partition was revoked, after its last
// flush and commit). Its unflushed changes are not written.
func (s *Store) Release(tp TP) {
	s.mu.Lock()
	delete(s.sets, tp)
	s.mu.Unlock()
}

// bytesPerKey bounds the live heap a loaded set takes per quarantined key
// (TestStore100kKeysSurviveRestart measures it at 100,000 keys).
const bytesPerKey = 66

// pendingBytesPerKey bounds the live heap per key quarantined since the
// last confirmed commit, before that commit makes it final
// (TestPendingMemoryPerKey measures it at 100,000 keys).
const pendingBytesPerKey = 200
