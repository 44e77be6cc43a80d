package consumer

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/consumer/dlq"
	"github.com/ordo-go/ordo/internal/header"
)

// fate is what the property test makes of one record.
type fate uint8

const (
	fateOK        fate = iota
	fateTransient      // fails its first one or two attempts
	fatePermanent      // the handler returns a Permanent error
	fatePoison         // not a Confluent frame
)

// TestDeadLetterProperty: thousands of records over hundreds of keys with
// random transient failures, permanent failures and poison records, on
// members that join and leave. Every record ends as handled or
// dead-lettered, and which one is decided by its key alone: the records
// of a key before its first bad record are handled, that one and every
// later one dead-lettered (quarantine). Per key, first handlings and
// first dead letters each keep offset order. No partition stalls (the
// commit reaches the end), and the commit point never passes a record that
// is neither handled nor dead-lettered.
func TestDeadLetterProperty(t *testing.T) {
	const keys, perKey = 300, 10
	f := newFixture(t, 6)
	f.createTopic(dlt, 3)
	rng := rand.New(rand.NewPCG(7, 11))
	fates := make(map[string]fate) // "key/seq"
	var recs []*kgo.Record
	seq := make([]int64, keys)
	for n := 0; n < keys*perKey; n++ {
		k := rng.IntN(keys)
		for seq[k] == perKey {
			k = (k + 1) % keys
		}
		seq[k]++
		s := Step{Key: fmt.Sprintf("key-%03d", k), Seq: seq[k]}
		id := fmt.Sprintf("%s/%d", s.Key, s.Seq)
		var fa fate
		switch x := rng.IntN(1000); {
		case x < 5:
			fa = fatePoison
		case x < 10:
			fa = fatePermanent
		case x < 150:
			fa = fateTransient
		}
		fates[id] = fa
		r := f.record(s)
		if fa == fatePoison {
			r.Value = []byte("poison " + id)
		}
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: "pt", Value: []byte(id)})
		recs = append(recs, r)
	}

	var (
		mu      sync.Mutex
		handled = make(map[string]int) // id -> times
		maxSeq  = make(map[string]int64)
		gaps    []string
	)
	h := func(_ context.Context, s Step, m Meta) error {
		id := fmt.Sprintf("%s/%d", s.Key, s.Seq)
		switch fates[id] {
		case fatePermanent:
			return Permanent(errors.New("refused " + id))
		case fateTransient:
			if m.Attempt <= 1+int(s.Seq%2) {
				return errors.New("flaky " + id)
			}
		}
		time.Sleep(time.Millisecond) // long enough for members to come and go mid-stream
		mu.Lock()
		defer mu.Unlock()
		if handled[id] == 0 && s.Seq <= maxSeq[s.Key] {
			gaps = append(gaps, id) // a first handling behind a later one
		}
		handled[id]++
		maxSeq[s.Key] = max(maxSeq[s.Key], s.Seq)
		return nil
	}
	opts := []Option{DeadLetterTopic(dlt), Concurrency(8), Retry(5, time.Millisecond, 5*time.Millisecond),
		DrainTimeout(10 * time.Second)}
	member := func() (*Consumer, func() error) {
		c := f.consumer("property", h, opts...)
		return c, runConsumer(t, c)
	}
	a, waitA := member()
	f.produce(recs[:len(recs)/3]...)
	b, waitB := member()
	f.produce(recs[len(recs)/3 : 2*len(recs)/3]...)
	c, waitC := member()
	f.produce(recs[2*len(recs)/3:]...)
	time.Sleep(300 * time.Millisecond)
	if err := a.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := waitA(); err != nil {
		t.Fatal(err)
	}
	f.checkCommitted(t, "property", &mu, handled)
	d, waitD := member()

	ends, err := f.adm.ListEndOffsets(context.Background(), f.topic)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 90*time.Second, "the commit at the end of every partition", func() bool {
		got := f.committed("property")
		done := true
		ends.Each(func(o kadm.ListedOffset) { done = done && got[o.Partition] == o.Offset })
		return done
	})
	f.checkCommitted(t, "property", &mu, handled)
	for _, m := range []*Consumer{b, c, d} {
		m.Close()
	}
	for _, w := range []func() error{waitB, waitC, waitD} {
		if err := w(); err != nil {
			t.Fatal(err)
		}
	}

	// Expected: per key, handled up to its first bad record, dead-lettered from it on.
	wantDead := make(map[string]bool)
	for k := range keys {
		bad := false
		for s := 1; s <= perKey; s++ {
			id := fmt.Sprintf("key-%03d/%d", k, s)
			bad = bad || fates[id] == fatePoison || fates[id] == fatePermanent
			wantDead[id] = bad
		}
	}
	dead, dups := f.deadLetters(t)
	var nh, nd, dupHandled int
	for id, isDead := range wantDead {
		switch {
		case isDead && (dead[id] == 0 || handled[id] > 0):
			t.Fatalf("%s: dead-lettered %d times, handled %d, want dead-lettered only", id, dead[id], handled[id])
		case !isDead && (handled[id] == 0 || dead[id] > 0):
			t.Fatalf("%s: handled %d times, dead-lettered %d, want handled only", id, handled[id], dead[id])
		}
		if isDead {
			nd++
		} else {
			nh++
			dupHandled += handled[id] - 1
		}
	}
	if len(gaps) > 0 {
		t.Fatalf("first handlings out of order: %v", gaps[:min(5, len(gaps))])
	}
	var st Stats
	for _, m := range []*Consumer{a, b, c, d} {
		s := m.Stats()
		st.Retries += s.Retries
		st.DeadLettered += s.DeadLettered
		st.Handled += s.Handled
	}
	t.Logf("%d records, %d keys, 4 members: %d handled (%d duplicates), %d dead-lettered (%d duplicates, %d out-of-order firsts); members' counts: handled %d, retries %d, dead letters %d",
		len(recs), keys, nh, dupHandled, nd, dups.dup, dups.disorder, st.Handled, st.Retries, st.DeadLettered)
	if dups.disorder > 0 {
		t.Fatalf("%d dead letters of a key out of offset order", dups.disorder)
	}
}

type dlqTally struct{ dup, disorder int }

// deadLetters reads the whole dead-letter topic: how often each record
// ("key/seq") was dead-lettered, duplicates, and first dead letters of a
// key that came after a later one of the same key.
func (f *fixture) deadLetters(t *testing.T) (map[string]int, dlqTally) {
	ends, err := f.adm.ListEndOffsets(context.Background(), dlt)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	ends.Each(func(o kadm.ListedOffset) { n += int(o.Offset) })
	out := make(map[string]int)
	last := make(map[string]int64) // key -> highest original offset dead-lettered
	var tally dlqTally
	for _, r := range f.readTopic(dlt, n) {
		info, err := dlq.Parse(r)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := header.Get(r.Headers, "pt")
		if out[string(id)]++; out[string(id)] > 1 {
			tally.dup++
			continue
		}
		if l, ok := last[string(r.Key)]; ok && info.Offset < l {
			tally.disorder++
		}
		last[string(r.Key)] = max(last[string(r.Key)], info.Offset)
	}
	return out, tally
}

// checkCommitted: every record below the group's committed offsets is
// handled or dead-lettered.
func (f *fixture) checkCommitted(t *testing.T, group string, mu *sync.Mutex, handled map[string]int) {
	committed := f.committed(group)
	dead, _ := f.deadLetters(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.cluster.Brokers()...), kgo.ConsumeTopics(f.topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, _ := f.adm.ListEndOffsets(context.Background(), f.topic)
	total := 0
	ends.Each(func(o kadm.ListedOffset) { total += int(o.Offset) })
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	mu.Lock()
	defer mu.Unlock()
	for seen := 0; seen < total; {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatal("reading the topic back timed out")
		}
		fs.EachRecord(func(r *kgo.Record) {
			seen++
			if r.Offset >= committed[r.Partition] {
				return
			}
			id, _ := header.Get(r.Headers, "pt")
			if handled[string(id)] == 0 && dead[string(id)] == 0 {
				t.Errorf("%d/%d (%s) is below the commit point %d but neither handled nor dead-lettered",
					r.Partition, r.Offset, id, committed[r.Partition])
			}
		})
	}
}
