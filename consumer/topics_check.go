package consumer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// A misspelt input topic (Topics("ordrs")) used to show nothing at the
// default log level, and Ready said "not in the group yet": a pod never
// became ready and the reason pointed at the group. So Run looks the
// consumed topics up at once: a topic the cluster does not have is named
// in a WARN line and in Ready's error until it exists (the consumer keeps
// waiting for it: a topic may be created after its consumers start, and
// franz-go's metadata refresh picks it up); its creation is logged.
//
// The room: topicWatch owns the set of consumed topics the cluster did
// not have at the last look, under its own mu (grabbed by the watch
// goroutine to replace the set, and by Ready to read it; never with
// the scheduler's lock held).
//
// Goroutine: watchTopics, started by Run, counted in c.lanes, stopped
// when the scheduler's ending is done. It looks every topicsRetry until every
// topic exists, then ends.
const topicsRetry = time.Second

type topicWatch struct {
	mu      sync.Mutex
	missing []string // sorted; nil when all exist or not yet looked
}

func (w *topicWatch) set(missing []string) {
	w.mu.Lock()
	w.missing = missing
	w.mu.Unlock()
}

// why returns Ready's reason while a consumed topic is missing, "" else.
func (w *topicWatch) why() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.missing) == 0 {
		return ""
	}
	return fmt.Sprintf("consumed topic %s does not exist on the cluster (check Topics)", quoteAll(w.missing))
}

func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

func (c *Consumer) watchTopics() {
	defer c.lanes.Done()
	adm := kadm.NewClient(c.cl)
	warned := map[string]bool{}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-c.sched.ending.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(c.sched.ending, probeTimeout)
		missing, err := missingTopics(ctx, adm, c.cfg.topics)
		cancel()
		if c.sched.ending.Err() != nil {
			return
		}
		if err == nil { // no answer: watchConnect reports the cluster
			c.topics.set(missing)
			for _, name := range missing {
				if !warned[name] {
					warned[name] = true
					c.log.Warn("consumed topic does not exist on the cluster: check the name in Topics; the consumer waits for it and is not ready until it exists",
						"topic", name)
				}
			}
			for name := range warned {
				if !slices.Contains(missing, name) {
					delete(warned, name)
					c.log.Info("consumed topic now exists", "topic", name)
				}
			}
			if len(missing) == 0 {
				return
			}
		}
		t.Reset(topicsRetry)
	}
}

// missingTopics returns which of topics the cluster does not have,
// sorted; an error when the cluster did not answer.
func missingTopics(ctx context.Context, adm *kadm.Client, topics []string) ([]string, error) {
	md, err := adm.Metadata(ctx, topics...)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, name := range topics {
		td, ok := md.Topics[name]
		switch {
		case !ok, errors.Is(td.Err, kerr.UnknownTopicOrPartition):
			missing = append(missing, name)
		case td.Err != nil:
			return nil, td.Err
		}
	}
	slices.Sort(missing)
	return missing, nil
}
