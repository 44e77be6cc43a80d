package dlq

import "github.com/twmb/franz-go/pkg/kgo"

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
)

// planner decides each dead letter's fate, in dead-letter order. It is
// deterministic: two planners fed the same records decide the same, which
// is what lets Redrive plan in one pass and write in a second.
type planner struct {
	cfg    RedriveConfig
	chains map[chainID]*chainState
	report RedriveReport
}

func newPlanner(cfg RedriveConfig) *planner {
	return &planner{cfg: cfg, chains: make(map[chainID]*chainState), report: RedriveReport{ByTopic: make(map[string]int)}}
}

// decide returns d's verdict, its parsed headers and, for a keyed record,
// its chain. A record without a key is a chain of its own: no quarantine
// holds records without a key, so there is no order to keep.
func (p *planner) decide(d *kgo.Record) (verdict, Info, *chainID) {
	p.report.Scanned++
	info, err := Parse(d)
	if err != nil {
		p.report.Malformed++
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
		}
	}
	v := p.verdict(st, info)
	p.count(v, info)
	if v == emit {
		st.emitted = true
		st.last = pos{d.Partition, d.Offset}
	}
	return v, info, id
}

func (p *planner) verdict(st *chainState, info Info) verdict {
	switch {
	case !st.selected:
		return filtered
	case st.held:
		return held
	case info.Redrives >= p.cfg.MaxRedrives:
		st.held = true
		return looped
	}
	return emit
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
