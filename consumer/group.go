package consumer

import (
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Protocol is the consumer group protocol a consumer joins its group with.
type Protocol int

const (
	// ClassicProtocol is the group protocol every Kafka version speaks:
	// members join and sync, and one of them assigns the partitions
	// (cooperative-sticky, so a rebalance moves only the partitions it
	// must). It is the default.
	ClassicProtocol Protocol = iota
	// ConsumerProtocol is KIP-848's protocol: the broker assigns the
	// partitions through each member's heartbeats, so a member joining or
	// leaving never stops the others. It needs Kafka 4.0 or newer (4.3 or
	// newer recommended: before it, an offset commit can meet an error
	// the client cannot handle itself). Against an older broker the
	// consumer falls back to the classic protocol. The session timeout is
	// a group config on the broker: without [SessionTimeout] it is the
	// broker's group.consumer.session.timeout.ms (45 s by default); with
	// it, the consumer sets the group's consumer.session.timeout.ms (see
	// [SessionTimeout] for the broker setting that must allow it).
	ConsumerProtocol
)

func (p Protocol) String() string {
	switch p {
	case ClassicProtocol:
		return "classic"
	case ConsumerProtocol:
		return "consumer"
	}
	return fmt.Sprintf("Protocol(%d)", int(p))
}

// membership is how the consumer takes part in its group.
type membership struct {
	protocol   Protocol
	session    time.Duration // 0: defaultSession (classic), the broker's (KIP-848)
	instanceID string        // "": dynamic membership
}

// GroupProtocol sets the group protocol. Default: [ClassicProtocol]. All
// members of one group should use the same protocol; Kafka 4 lets a group
// move from one to the other while its members are restarted.
func GroupProtocol(p Protocol) Option {
	return optionFunc(func(c *config) { c.membership.protocol = p })
}

// SessionTimeout sets how long the group coordinator waits for a member's
// heartbeat before it declares the member dead and gives its partitions to
// the others: the time a crashed (SIGKILLed, OOM-killed, powered-off)
// instance's partitions sit unread. Default: 10 s under the classic
// protocol (Kafka's own default is 45 s), with a heartbeat every 3 s.
//
// The cost of a short session: a member that cannot heartbeat for longer
// (a stop-the-world pause, a host starved of CPU, a network blip to the
// coordinator) is thrown out, its partitions move (a rebalance), and
// records it had in flight are handled again by their new owner; so
// raise it where such pauses are routine. The broker bounds it with
// group.min.session.timeout.ms and group.max.session.timeout.ms (6 s and
// 30 min by default).
//
// Under [ConsumerProtocol] the session timeout is the group's, kept by the
// broker: given SessionTimeout, the consumer sets the group config
// consumer.session.timeout.ms at Run (IncrementalAlterConfigs on the
// GROUP resource; the last member to set it wins, and it stays after the
// consumer stops), and joins the group only once the broker has set or
// refused it (a retriable error is asked again; at most 30 s after Run
// first reached a broker): the broker arms a member's session with the
// group's setting at each heartbeat, so a member that joined first and
// was killed before its second heartbeat waited out the broker's 45 s
// (TestSessionTimeoutBeforeJoin; on Kafka 4, internal/e2e
// TestRecoveryAfterEarlyKill: 11.1 s, where it was 46.1 s). Kafka bounds
// it with the brokers' group.consumer.min.session.timeout.ms, 45 s by
// default, which is a
// static broker setting: for a fast recovery, set
// group.consumer.min.session.timeout.ms=6000 in every broker's
// server.properties (a rolling restart) and SessionTimeout(10*time.Second)
// on the consumer. A broker that refuses it (the minimum, a missing
// ALTER_CONFIGS permission on the group, a broker older than 4.0) is
// logged once at WARN, naming the broker setting, and the broker's
// session timeout applies. Without SessionTimeout the consumer leaves the
// group config alone.
//
// Measured on Kafka 4.4 (internal/e2e TestRecoveryAfterKill, a member
// killed, a new one started one second later, until every partition was
// read again; see [InstanceID] for the static cases): classic, default
// (10 s): 10.0 s, where Kafka's 45 s default took 45.0 s; classic,
// SessionTimeout(6s): 5.8–6.0 s; KIP-848, SessionTimeout(10s), the
// brokers' minimum at 6 s: 11.0–11.1 s (the broker's 5 s heartbeat
// interval adds up to one interval); KIP-848 without it (the broker's
// 45 s): 46.1 s.
func SessionTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { c.membership.session = d })
}

// InstanceID makes the consumer a static member of its group (KIP-345)
// with this ID, which must be unique in the group and stable across
// restarts of the same instance (a pod name, a host name). A static member
// does not leave the group when it stops: restarted within the session
// timeout, it gets its partitions back at once, with no rebalance of the
// others. The price: an instance that stops for good keeps its partitions
// unread until the session timeout passes, so pair it with a
// [SessionTimeout] that covers a restart and no more. Default: none
// (dynamic membership: a member leaves on Shutdown, and its partitions move
// at once).
//
// On Kubernetes, one line makes each pod a static member:
//
//	consumer.InstanceID(os.Getenv("POD_NAME")) // env from fieldRef metadata.name
//
// (a StatefulSet's pod names are stable across restarts; a Deployment's
// are not, so its restarted pod joins as a new member and the old ID's
// partitions wait out the session timeout).
//
// Measured on Kafka 4.4 (internal/e2e TestRecoveryAfterKill: a member
// killed, restarted one second later): classic, static, default session:
// 1.0–2.5 s until its partitions were read again. Under [ConsumerProtocol]
// the broker refuses the restarted instance's ID while the killed holder
// has not timed out (UNRELEASED_INSTANCE_ID), so a crash costs the
// group's session timeout, static or not (the broker's 45 s by default:
// 44.6 s); static membership there helps restarts that stop cleanly.
func InstanceID(id string) Option {
	return optionFunc(func(c *config) { c.membership.instanceID = id })
}

func (m membership) validate() []error {
	var errs []error
	if m.protocol != ClassicProtocol && m.protocol != ConsumerProtocol {
		errs = append(errs, fmt.Errorf("unknown group protocol %v", m.protocol))
	}
	if m.session < 0 {
		errs = append(errs, fmt.Errorf("session timeout %v < 0", m.session))
	}
	return errs
}

// groupSession returns the session timeout to set as the group's config:
// under KIP-848, when [SessionTimeout] was given; else 0.
func (m membership) groupSession() time.Duration {
	if m.protocol != ConsumerProtocol {
		return 0
	}
	return m.session
}

// opts returns the kgo options for the membership.
func (m membership) opts() []kgo.Opt {
	var opts []kgo.Opt
	if m.protocol == ConsumerProtocol {
		// kgo speaks KIP-848 with a server-side assignor it can name:
		// the sticky balancer maps to the broker's "uniform" assignor.
		opts = append(opts, kgo.ServerSideBalancer(), kgo.Balancers(kgo.StickyBalancer()))
	}
	// Under KIP-848 kgo sends no session timeout (groupSession sets the
	// group's); it applies if the broker is too old and kgo falls back to
	// the classic protocol.
	session := m.session
	if session == 0 {
		session = defaultSession
	}
	opts = append(opts, kgo.SessionTimeout(session))
	if m.instanceID != "" {
		opts = append(opts, kgo.InstanceID(m.instanceID))
	}
	return opts
}
