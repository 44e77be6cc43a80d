package consumer

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestSessionTimeoutDefault protects the classic default: a member joins
// with a 10 s session (Kafka's 45 s left a crashed member's partitions
// unread for 45 s), and SessionTimeout still overrides it.
func TestSessionTimeoutDefault(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts []Option
		want int32
	}{
		{"default", nil, 10_000},
		{"SessionTimeout(20s)", []Option{SessionTimeout(20 * time.Second)}, 20_000},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, 1)
			var joined atomic.Int32
			f.cluster.Kafka().ControlKey(int16(kmsg.JoinGroup), func(kr kmsg.Request) (kmsg.Response, error, bool) {
				joined.Store(kr.(*kmsg.JoinGroupRequest).SessionTimeoutMillis)
				return nil, nil, false
			})
			rec := newRecorder(nil)
			c := f.consumer("session", rec.handle, tt.opts...)
			total := f.publish(3, 1)
			wait := runConsumer(t, c)
			waitFor(t, 30*time.Second, "every record handled", func() bool { return rec.distinct() == total })
			c.Close()
			if err := wait(); err != nil {
				t.Fatal(err)
			}
			if got := joined.Load(); got != tt.want {
				t.Fatalf("JoinGroup session timeout %d ms, want %d", got, tt.want)
			}
		})
	}
}

// TestSessionTimeoutGroupConfig protects SessionTimeout under KIP-848: the
// consumer sets the group's consumer.session.timeout.ms (the broker reads
// it, the member's join carries none), and says so at INFO.
func TestSessionTimeoutGroupConfig(t *testing.T) {
	f := newFixture(t, 1)
	f.protocol = ConsumerProtocol
	var logs syncBuffer
	rec := newRecorder(nil)
	c := f.consumer("kip848", rec.handle, SessionTimeout(10*time.Second), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	total := f.publish(3, 1)
	wait := runConsumer(t, c)
	waitFor(t, 30*time.Second, "every record handled", func() bool { return rec.distinct() == total })
	waitFor(t, 10*time.Second, "the group config set", func() bool { return groupConfig(t, f, "kip848", "consumer.session.timeout.ms") == "10000" })
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "group session timeout set") {
		t.Fatalf("no INFO line for the group config; log:\n%s", logs.String())
	}
}

// TestSessionTimeoutGroupConfigRefused protects the refusal: a broker that
// refuses the group config (its group.consumer.min.session.timeout.ms is
// above the session) gets one WARN naming that broker setting, and the
// consumer consumes on, under the broker's session timeout.
func TestSessionTimeoutGroupConfigRefused(t *testing.T) {
	f := newFixture(t, 1)
	f.protocol = ConsumerProtocol
	kc := f.cluster.Kafka()
	var alters atomic.Int32
	kc.ControlKey(int16(kmsg.IncrementalAlterConfigs), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		alters.Add(1)
		req := kr.(*kmsg.IncrementalAlterConfigsRequest)
		resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
		for _, r := range req.Resources {
			rr := kmsg.NewIncrementalAlterConfigsResponseResource()
			rr.ResourceType, rr.ResourceName, rr.ErrorCode = r.ResourceType, r.ResourceName, kerr.InvalidConfig.Code
			rr.ErrorMessage = kmsg.StringPtr("consumer.session.timeout.ms must be greater than or equal to group.consumer.min.session.timeout.ms")
			resp.Resources = append(resp.Resources, rr)
		}
		return resp, nil, true
	})
	var logs syncBuffer
	rec := newRecorder(nil)
	c := f.consumer("refused", rec.handle, SessionTimeout(10*time.Second), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	total := f.publish(3, 1)
	wait := runConsumer(t, c)
	waitFor(t, 30*time.Second, "every record handled", func() bool { return rec.distinct() == total })
	waitFor(t, 10*time.Second, "a warning", func() bool { return strings.Contains(logs.String(), "refused the group's session timeout") })
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if n := strings.Count(out, "refused the group's session timeout"); n != 1 || alters.Load() != 1 {
		t.Fatalf("%d warnings after %d requests, want 1 after 1; log:\n%s", n, alters.Load(), out)
	}
	for _, want := range []string{"group.consumer.min.session.timeout.ms", "INVALID_CONFIG", "level=WARN"} {
		if !strings.Contains(out, want) {
			t.Fatalf("the warning does not name %s; log:\n%s", want, out)
		}
	}
}

// groupConfig returns the group's config value of name, "" if unset.
func groupConfig(t *testing.T, f *fixture, group, name string) string {
	t.Helper()
	req := kmsg.NewPtrDescribeConfigsRequest()
	res := kmsg.NewDescribeConfigsRequestResource()
	res.ResourceType, res.ResourceName, res.ConfigNames = kmsg.ConfigResourceTypeGroupConfig, group, []string{name}
	req.Resources = append(req.Resources, res)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, f.cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range resp.Resources {
		for _, c := range r.Configs {
			if c.Name == name && c.Value != nil && c.Source == kmsg.ConfigSourceGroupConfig {
				return *c.Value
			}
		}
	}
	return ""
}

// TestSessionTimeoutBeforeJoin protects the order under KIP-848: the
// group's session timeout is set before the member's first heartbeat.
// The broker arms a member's session timer with the group's config at
// each heartbeat, so a first heartbeat before the config left a member
// killed early in its life (before its next heartbeat, 5 s later) on the
// broker's 45 s: the fault suite measured 46 s after such a kill. The
// consumer is run a second after it is made, as a service does after
// its other setup: before, the member joined at New, and its heartbeats
// ran for that second before the config was set.
func TestSessionTimeoutBeforeJoin(t *testing.T) {
	f := newFixture(t, 2)
	f.protocol = ConsumerProtocol
	kc := f.cluster.Kafka()
	var mu sync.Mutex
	var seen []string // "alter" and "heartbeat", in the order the broker got them
	note := func(what string) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, what)
	}
	kc.ControlKey(int16(kmsg.IncrementalAlterConfigs), func(kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		note("alter")
		return nil, nil, false
	})
	kc.ControlKey(int16(kmsg.ConsumerGroupHeartbeat), func(kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		note("heartbeat")
		return nil, nil, false
	})
	rec := newRecorder(nil)
	c := f.consumer("early", rec.handle, SessionTimeout(10*time.Second))
	total := f.publish(4, 2)
	time.Sleep(time.Second)
	wait := runConsumer(t, c)
	waitFor(t, 30*time.Second, "every record handled", func() bool { return rec.distinct() == total })
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	first := slices.Index(seen, "alter")
	before := len(seen) // heartbeats before the config: all, if it never came
	if first >= 0 {
		before = first
	}
	t.Logf("the broker got the group config as request %d and the first heartbeat as request %d of %d",
		first, slices.Index(seen, "heartbeat"), len(seen))
	if first < 0 || before > 0 {
		t.Fatalf("%d heartbeats before the group's session timeout was set: %v", before, seen[:min(len(seen), 10)])
	}
	if got := groupConfig(t, f, "early", "consumer.session.timeout.ms"); got != "10000" {
		t.Fatalf("group config consumer.session.timeout.ms = %q, want 10000", got)
	}
}

// TestSessionTimeoutGroupConfigRetried: a broker that cannot set the
// group config now (a retriable error: the request timed out, the
// controller moved) is asked again, and the member joins once it is set.
// Before, the first answer was final: one WARN, and the broker's 45 s
// session for the whole Run.
func TestSessionTimeoutGroupConfigRetried(t *testing.T) {
	f := newFixture(t, 1)
	f.protocol = ConsumerProtocol
	kc := f.cluster.Kafka()
	var alters atomic.Int32
	kc.ControlKey(int16(kmsg.IncrementalAlterConfigs), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		if alters.Add(1) > 2 {
			return nil, nil, false // the third is let through, and the control is dropped
		}
		kc.KeepControl()
		req := kr.(*kmsg.IncrementalAlterConfigsRequest)
		resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
		for _, r := range req.Resources {
			rr := kmsg.NewIncrementalAlterConfigsResponseResource()
			rr.ResourceType, rr.ResourceName, rr.ErrorCode = r.ResourceType, r.ResourceName, kerr.RequestTimedOut.Code
			resp.Resources = append(resp.Resources, rr)
		}
		return resp, nil, true
	})
	var logs syncBuffer
	rec := newRecorder(nil)
	c := f.consumer("retried", rec.handle, SessionTimeout(10*time.Second), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	total := f.publish(3, 1)
	wait := runConsumer(t, c)
	waitFor(t, 30*time.Second, "every record handled", func() bool { return rec.distinct() == total })
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	got := groupConfig(t, f, "retried", "consumer.session.timeout.ms")
	t.Logf("%d requests; group config %q; %s", alters.Load(), got, grepLines(out, "session timeout"))
	if alters.Load() != 3 || got != "10000" || strings.Contains(out, "refused") || !strings.Contains(out, "group session timeout set") {
		t.Fatalf("after 2 timed-out requests: %d requests in all (want 3), group config %q (want 10000); log:\n%s", alters.Load(), got, out)
	}
}
