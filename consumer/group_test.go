package consumer

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// requestKeys records the Kafka API keys a client sends.
type requestKeys struct {
	mu   sync.Mutex
	seen map[int16]bool
}

func (r *requestKeys) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, _ error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen[key] = true
}

func (r *requestKeys) has(k kmsg.Key) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[int16(k)]
}

var _ kgo.HookBrokerWrite = (*requestKeys)(nil)

// TestGroupProtocolOnTheWire protects GroupProtocol: the consumer protocol
// really speaks KIP-848 (ConsumerGroupHeartbeat, never JoinGroup), the
// classic one the other way round, and both consume everything. Without
// this a silent fallback to classic would pass every group test.
func TestGroupProtocolOnTheWire(t *testing.T) {
	forEachProtocol(t, func(t *testing.T, proto Protocol) {
		f := newFixture(t, 3)
		f.protocol = proto
		total := f.publish(20, 5)
		rec := newRecorder(nil)
		keys := &requestKeys{seen: map[int16]bool{}}
		c := f.consumer("wire", rec.handle, KgoOpts(kgo.WithHooks(keys)))
		wait := runConsumer(t, c)
		waitFor(t, 30*time.Second, "every record handled", func() bool { return rec.distinct() == total })
		c.Close()
		if err := wait(); err != nil {
			t.Fatal(err)
		}
		heartbeat848, join := keys.has(kmsg.ConsumerGroupHeartbeat), keys.has(kmsg.JoinGroup)
		if want := proto == ConsumerProtocol; heartbeat848 != want || join == want {
			t.Fatalf("%v protocol sent ConsumerGroupHeartbeat=%v JoinGroup=%v", proto, heartbeat848, join)
		}
	})
}

// TestMembershipOptions protects the options' validation and that they
// reach the group: a static member keeps its instance ID.
func TestMembershipOptions(t *testing.T) {
	f := newFixture(t, 1)
	for name, opts := range map[string][]Option{
		"unknown protocol": {GroupProtocol(Protocol(7))},
		"negative session": {SessionTimeout(-time.Second)},
	} {
		base := []Option{Brokers(f.cluster.Brokers()...), Group("g"), Topics(f.topic), Registry(f.reg), On(f.codec, newRecorder(nil).handle)}
		if _, err := New(append(base, opts...)...); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: New = %v, want ErrInvalidConfig", name, err)
		}
	}
	rec := newRecorder(nil)
	c := f.consumer("static", rec.handle, InstanceID("instance-a"), SessionTimeout(10*time.Second))
	total := f.publish(5, 2)
	wait := runConsumer(t, c)
	waitFor(t, 30*time.Second, "every record handled", func() bool { return rec.distinct() == total })
	described, err := f.adm.DescribeGroups(t.Context(), "static")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range described["static"].Members {
		if m.InstanceID != nil {
			ids = append(ids, *m.InstanceID)
		}
	}
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if len(ids) != 1 || ids[0] != "instance-a" {
		t.Fatalf("group members' instance IDs %v, want [instance-a]", ids)
	}
}
