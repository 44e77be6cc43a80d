package quarantine

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Load returns the quarantined keys of topic's partition as of the
// group's committed offset; see [Store.LoadAll].
func (s *Store) Load(ctx context.Context, topic string, partition int32) (*Set, error) {
	sets, err := s.LoadAll(ctx, map[string][]int32{topic: {partition}})
	if err != nil {
		return nil, err
	}
	return sets[TP{topic, partition}], nil
}

// LoadAll returns the quarantined keys of parts' partitions as of the
// group's committed offsets (the state a consumer resuming from them must
// start with), read from the start of their store partitions to the end
// they had when LoadAll began: the last record of a key wins, a tombstone
// deletes it. Each set is store-backed: its changes are written by
// [Store.Flush]; it replaces any set the store held for its partition. A
// set may hold more keys than MaxKeys (it was loaded, not added to); a new
// key is then [ErrFull].
//
// It blocks until the reads are done or ctx ends. An unreadable record of
// one of parts' partitions is an error matching [ErrFormat]: a quarantine
// is never dropped silently.
func (s *Store) LoadAll(ctx context.Context, parts map[string][]int32) (map[TP]*Set, error) {
	var tps []TP
	for t, ps := range parts {
		for _, p := range ps {
			tps = append(tps, TP{t, p})
		}
	}
	if len(tps) == 0 {
		return map[TP]*Set{}, nil
	}
	committed, err := s.committedOffsets(ctx, tps)
	if err != nil {
		return nil, err
	}
	loads := make(map[string]*loading, len(tps))
	want := make(map[int32]bool)
	for _, tp := range tps {
		loads[keyPrefix(tp)] = &loading{tp: tp, c: committed[tp], m: make(map[uint64]Entry), fix: make(map[uint64]state)}
		want[s.partitionOf(tp)] = true
	}
	if err := s.read(ctx, want, func(r *kgo.Record) error { return apply(loads, r) }); err != nil {
		return nil, err
	}
	return s.adopt(loads)
}

// loading is one partition's set while it is read.
type loading struct {
	tp  TP
	c   int64
	m   map[uint64]Entry
	fix map[uint64]state // keys whose record must be rewritten, as of c
}

// apply applies one store record to the set it belongs to, if any.
func apply(loads map[string]*loading, r *kgo.Record) error {
	i := bytes.LastIndexByte(r.Key, '/')
	if i < 0 {
		return nil
	}
	l := loads[string(r.Key[:i+1])]
	if l == nil {
		return nil // another source partition's entry
	}
	hb, err := hex.DecodeString(string(r.Key[i+1:]))
	if err != nil || len(hb) != 8 {
		return fmt.Errorf("%w: store key %q", ErrFormat, r.Key)
	}
	h := binary.BigEndian.Uint64(hb)
	st, asOf, err := decodeValue(r.Value, l.c)
	if err != nil {
		return fmt.Errorf("%s/%d at store offset %d: %w", l.tp.Topic, l.tp.Partition, r.Offset, err)
	}
	if st.ok {
		l.m[h] = st.e
	} else {
		delete(l.m, h)
	}
	// A record written for a commit that did not happen (asOf after c)
	// must not be read as of a later commit of this owner: rewrite it as
	// of c. A record saying "not quarantined" is replaced by a tombstone.
	if asOf > l.c || r.Value != nil && !st.ok {
		l.fix[h] = st
	} else {
		delete(l.fix, h)
	}
	return nil
}

// adopt turns loaded sets into store-backed sets the store flushes.
func (s *Store) adopt(loads map[string]*loading) (map[TP]*Set, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	sets := make(map[TP]*Set, len(loads))
	for _, l := range loads {
		j := newJournal(l.tp, l.c)
		for h, st := range l.fix {
			j.tracks[h] = &track{base: st, gen: 1}
		}
		s.sets[l.tp] = j
		sets[l.tp] = &Set{max: s.cfg.MaxKeys, m: l.m, j: j}
	}
	return sets, nil
}

// read calls fn with every record of the store partitions in want, from
// their start to the end they have now, in offset order per partition.
func (s *Store) read(ctx context.Context, want map[int32]bool, fn func(*kgo.Record) error) error {
	starts, err := s.adm.ListStartOffsets(ctx, s.topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return fmt.Errorf("quarantine store %q start offsets: %w", s.topic, err)
	}
	ends, err := s.adm.ListEndOffsets(ctx, s.topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return fmt.Errorf("quarantine store %q end offsets: %w", s.topic, err)
	}
	from := make(map[int32]kgo.Offset)
	left := make(map[int32]int64) // partition → its last offset to read
	for p := range want {
		st, _ := starts.Lookup(s.topic, p)
		en, _ := ends.Lookup(s.topic, p)
		if en.Offset > st.Offset {
			from[p] = kgo.NewOffset().At(st.Offset)
			left[p] = en.Offset - 1
		}
	}
	if len(left) == 0 {
		return nil
	}
	rd, err := kgo.NewClient(append(s.cfg.Opts[:len(s.cfg.Opts):len(s.cfg.Opts)],
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{s.topic: from}))...)
	if err != nil {
		return fmt.Errorf("quarantine store reader: %w", err)
	}
	defer rd.Close()
	return readUntil(ctx, rd, left, fn)
}

// readUntil polls rd until every partition of left has given its record
// at (or past) the offset left names. The store is written without
// transactions, and a partition's last record is never compacted away,
// so that record always comes.
func readUntil(ctx context.Context, rd *kgo.Client, left map[int32]int64, fn func(*kgo.Record) error) error {
	for len(left) > 0 {
		fs := rd.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("read quarantine store: %w", err)
		}
		if errs := fs.Errors(); len(errs) > 0 {
			return fmt.Errorf("read quarantine store %s/%d: %w", errs[0].Topic, errs[0].Partition, errs[0].Err)
		}
		var ferr error
		fs.EachRecord(func(r *kgo.Record) {
			last, ok := left[r.Partition]
			if !ok || ferr != nil || r.Offset > last {
				return
			}
			if ferr = fn(r); ferr == nil && r.Offset >= last {
				delete(left, r.Partition)
			}
		})
		if ferr != nil {
			return ferr
		}
	}
	return nil
}

// Merge adds to a store-backed set the keys of legacy, a set read from
// commit metadata, that it lacks: a consumer upgraded to the store reads
// its partition's metadata once, at assignment, and merges it, so no
// quarantine is lost in the upgrade. The keys are part of the committed
// state (the metadata came with the committed offset) and are written at
// the next [Store.Flush]. MaxKeys does not apply: nothing is dropped.
func (s *Set) Merge(legacy *Set) {
	if legacy == nil || s.j == nil {
		return
	}
	for h, e := range legacy.m {
		if _, ok := s.m[h]; ok {
			continue
		}
		s.m[h] = e
		s.j.note(h, state{}, -1, state{true, e})
	}
}
