package dlq

import (
	"encoding/binary"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/internal/header"
)

// chainID names a quarantine chain: the dead letters of one key of one
// original partition that share the offset that started the quarantine.
type chainID struct {
	topic     string
	partition int32
	key       string
	start     int64
}

// pos is a dead letter's place in the dead-letter topic.
type pos struct {
	partition int32
	offset    int64
}

type chainState struct {
	selected bool // by the filter, on the chain's first record in this run
	held     bool // a record reached the loop guard: the rest of the chain stays
	emitted  bool
	last     pos // the last record republished
}

type verdict int

const (
	emit verdict = iota
	filtered
	held
	looped
	malformed
	tooLarge
	unreadable
)

// keyID names a key of an original partition, every chain of it; a dead
// letter whose original topic and partition cannot be read names its key
// by the dead-letter partition it is in instead (topic "", partition -1).
type keyID struct {
	topic     string
	partition int32
	dlt       int32 // the dead-letter partition, when topic is ""
	key       string
}

// planner decides each dead letter's fate, in dead-letter order. It is
// deterministic: two planners fed the same records decide the same, which
// is what lets Redrive plan in one pass and write in a second.
type planner struct {
	cfg    RedriveConfig
	chains map[chainID]*chainState
	byKey  map[string][]chainID // the chains of each key, to hold them when the key is stuck
	stuck  map[keyID]bool       // keys with a dead letter that cannot be redriven
	anyDLT bool                 // some stuck key is named by its dead-letter partition
	report RedriveReport
}

func newPlanner(cfg RedriveConfig) *planner {
	return &planner{cfg: cfg, chains: make(map[chainID]*chainState), byKey: make(map[string][]chainID),
		stuck: make(map[keyID]bool), report: RedriveReport{ByTopic: make(map[string]int)}}
}

// decide returns d's verdict, its parsed headers and, for a keyed record,
// its chain. A record without a key is a chain of its own: no quarantine
// holds records without a key, so there is no order to keep.
func (p *planner) decide(d *kgo.Record) (verdict, Info, *chainID) {
	p.report.Scanned++
	info, err := Parse(d)
	if err != nil {
		p.report.Malformed++
		if d.Key != nil {
			k, off := origin(d)
			p.stick(d, k, off, err)
		}
		return malformed, info, nil
	}
	var id *chainID
	st := &chainState{selected: p.cfg.Filter.Match(d, info)}
	if d.Key != nil {
		id = &chainID{info.Topic, info.Partition, string(d.Key), info.ChainStart()}
		if known, ok := p.chains[*id]; ok {
			st = known
		} else {
			p.chains[*id] = st
			p.byKey[id.key] = append(p.byKey[id.key], *id)
		}
		if p.isStuck(d, info) {
			st.held = true
		}
	}
	v := p.verdict(st, info)
	p.count(v, info)
	if cause := stuckBy[v]; id != nil && cause != nil {
		p.stick(d, keyID{topic: info.Topic, partition: info.Partition, key: id.key}, info.Offset, cause)
	}
	if v == emit {
		st.emitted = true
		st.last = pos{d.Partition, d.Offset}
	}
	return v, info, id
}

// stuckBy is why a verdict stops its key's chain.
var stuckBy = map[verdict]error{looped: ErrLoopGuard, tooLarge: ErrTooLarge, unreadable: ErrUnreadable}

func (p *planner) verdict(st *chainState, info Info) verdict {
	switch {
	case !st.selected:
		return filtered
	case st.held:
		return held
	case info.Reason == TooLarge:
		st.held = true
		return tooLarge
	case info.Redrives >= p.cfg.MaxRedrives:
		st.held = true
		return looped
	case info.Reason.Unreadable() && !p.cfg.IncludeUnreadable:
		st.held = true
		return unreadable
	}
	return emit
}

// stick marks k stuck at dead letter d (whose original offset is off, -1
// when unknown), because of cause: every chain of k, those read so far
// and those to come, is held, so that none of them lifts the key's
// quarantine and none of k's later records is republished ahead of d.
// A key named by its dead-letter partition holds every chain of its key.
func (p *planner) stick(d *kgo.Record, k keyID, off int64, cause error) {
	if p.stuck[k] {
		return
	}
	p.stuck[k] = true
	p.anyDLT = p.anyDLT || k.topic == ""
	for _, id := range p.byKey[k.key] {
		if k.topic == "" || id.topic == k.topic && id.partition == k.partition {
			p.chains[id].held = true
		}
	}
	p.report.StuckChains++
	if len(p.report.Stuck) < MaxStuckReported {
		p.report.Stuck = append(p.report.Stuck, Stuck{Topic: k.topic, Partition: k.partition, Offset: off,
			DeadLetterPartition: d.Partition, DeadLetterOffset: d.Offset, Err: cause})
	}
}

// isStuck reports whether d's key is stuck in its original partition or
// (when a stuck dead letter did not say its origin) in d's dead-letter
// partition.
func (p *planner) isStuck(d *kgo.Record, info Info) bool {
	if p.stuck[keyID{topic: info.Topic, partition: info.Partition, key: string(d.Key)}] {
		return true
	}
	return p.anyDLT && p.stuck[keyID{partition: -1, dlt: d.Partition, key: string(d.Key)}]
}

// origin reads what it can of a malformed dead letter's key: its original
// topic and partition when those headers are whole, else its dead-letter
// partition; and its original offset, or -1.
func origin(d *kgo.Record) (keyID, int64) {
	last := lastHeaders(d.Headers)
	k := keyID{partition: -1, dlt: d.Partition, key: string(d.Key)}
	t, ok := last[header.DLTOriginalTopic]
	p, okp := last[header.DLTOriginalPartition]
	if ok && okp && len(t) > 0 && len(p) == 4 {
		k = keyID{topic: string(t), partition: int32(binary.BigEndian.Uint32(p)), key: k.key}
	}
	off := int64(-1)
	if o := last[header.DLTOriginalOffset]; len(o) == 8 {
		off = int64(binary.BigEndian.Uint64(o))
	}
	return k, off
}

func (p *planner) count(v verdict, info Info) {
	switch v {
	case emit:
		p.report.Redriven++
		p.report.ByTopic[info.Topic]++
	case filtered:
		p.report.Filtered++
	case held:
		p.report.Held++
	case looped:
		p.report.LoopGuarded++
	case tooLarge:
		p.report.TooLarge++
	case unreadable:
		p.report.Unreadable++
	}
}

// lifted counts the chains whose last republished record carries the lift.
func (p *planner) lifted() int {
	n := 0
	for _, st := range p.chains {
		if st.emitted && !st.held {
			n++
		}
	}
	return n
}
