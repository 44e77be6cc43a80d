package consumer

import (
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The fetch-pause registry: the one place kgo's PauseFetchTopics,
// PauseFetchPartitions, ResumeFetchTopics and ResumeFetchPartitions are
// called.
//
// Several rooms stop the fetch of a partition for reasons of their own:
// the user's Pause (control.go), a partition over its share of the buffer
// under a rate cap (fair.go), and the open breaker (breaker.go: every
// consumed topic, from its opening to its closing). kgo keeps one paused
// flag per topic and one per partition, so a room that resumed through
// kgo directly would undo another's pause: a capped partition's resume
// would restart the fetch of a partition the user paused. The registry
// keeps, per topic or partition, the set of reasons holding it, pauses at
// kgo when the first reason arrives and resumes only when the last one
// leaves.
//
// Lock. mu is grabbed when a reason pauses or resumes a topic or a
// partition (Pause and Resume, with the scheduler's lock held: so the
// scheduler's lock comes first; the poller and the rebalance callbacks
// without it), and when a reason asks what it holds. kgo is called with mu
// held, so that two reasons' decisions reach kgo in the order they were
// made; kgo's pause calls take only its own lock and never call back.
type fetchPauses struct {
	mu   sync.Mutex
	held map[fetchKey]fetchReason
}

// fetchReason is a set of reasons a fetch is paused for, one bit each.
type fetchReason uint8

const (
	fetchUser    fetchReason = 1 << iota // Consumer.Pause
	fetchCap                             // over its share of the buffer under a rate cap (fair.go)
	fetchBreaker                         // the breaker is open: every consumed topic (breaker.go)
)

// fetchKey names a partition, or with partition -1 a whole topic: kgo
// pauses topics and partitions independently.
type fetchKey struct {
	topic     string
	partition int32
}

// pause adds why to the reasons holding each of parts' partitions (a
// topic with no partitions listed: the whole topic) and pauses at kgo
// those it is the first reason for.
func (f *fetchPauses) pause(cl *kgo.Client, why fetchReason, parts map[string][]int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.held == nil {
		f.held = make(map[fetchKey]fetchReason)
	}
	f.each(parts, func(k fetchKey, topics []string, ps map[string][]int32) ([]string, map[string][]int32) {
		was := f.held[k]
		f.held[k] = was | why
		if was != 0 {
			return topics, ps
		}
		return addKey(k, topics, ps)
	}, func(topics []string, ps map[string][]int32) {
		if len(topics) > 0 {
			cl.PauseFetchTopics(topics...)
		}
		if len(ps) > 0 {
			cl.PauseFetchPartitions(ps)
		}
	})
}

// resume takes why off the reasons holding each of parts' partitions (a
// topic with no partitions listed: the whole topic) and resumes at kgo
// those no reason holds any more.
func (f *fetchPauses) resume(cl *kgo.Client, why fetchReason, parts map[string][]int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.each(parts, func(k fetchKey, topics []string, ps map[string][]int32) ([]string, map[string][]int32) {
		was, ok := f.held[k]
		if !ok || was&why == 0 {
			return topics, ps
		}
		if rest := was &^ why; rest != 0 {
			f.held[k] = rest
			return topics, ps
		}
		delete(f.held, k)
		return addKey(k, topics, ps)
	}, func(topics []string, ps map[string][]int32) {
		if len(topics) > 0 {
			cl.ResumeFetchTopics(topics...)
		}
		if len(ps) > 0 {
			cl.ResumeFetchPartitions(ps)
		}
	})
}

// holds reports whether why holds the partition's fetch (not its topic's).
func (f *fetchPauses) holds(why fetchReason, k tp) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.held[fetchKey(k)]&why != 0
}

// heldFor returns the partitions (not topics) why holds.
func (f *fetchPauses) heldFor(why fetchReason) []tp {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []tp
	for k, r := range f.held {
		if r&why != 0 && k.partition >= 0 {
			out = append(out, tp(k))
		}
	}
	return out
}

// each runs step for every key of parts, collecting what to tell kgo, and
// then call once with what was collected. Called with f.mu held.
func (f *fetchPauses) each(parts map[string][]int32,
	step func(fetchKey, []string, map[string][]int32) ([]string, map[string][]int32),
	call func([]string, map[string][]int32)) {
	var topics []string
	var ps map[string][]int32
	for t, list := range parts {
		if len(list) == 0 {
			topics, ps = step(fetchKey{t, -1}, topics, ps)
		}
		for _, p := range list {
			topics, ps = step(fetchKey{t, p}, topics, ps)
		}
	}
	call(topics, ps)
}

// addKey adds k to the topics or partitions to tell kgo of.
func addKey(k fetchKey, topics []string, ps map[string][]int32) ([]string, map[string][]int32) {
	if k.partition < 0 {
		return append(topics, k.topic), ps
	}
	if ps == nil {
		ps = make(map[string][]int32)
	}
	ps[k.topic] = append(ps[k.topic], k.partition)
	return topics, ps
}
