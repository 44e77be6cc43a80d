package consumer

import (
	"errors"
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
	// the broker's (group.consumer.session.timeout.ms): [SessionTimeout]
	// does not apply.
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
	session    time.Duration // 0: kgo's default (45 s)
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
// the others. Default: 45 s (Kafka's). It is the time a crashed instance's
// partitions sit unread: shorter means a faster take-over after a crash,
// but a member paused longer than this (a long GC, a slow host) is thrown
// out and its partitions move. The broker bounds it with
// group.min.session.timeout.ms and group.max.session.timeout.ms (6 s and
// 30 min by default). Classic protocol only (see [ConsumerProtocol]).
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
// Measured on Kafka 4.4 (internal/e2e TestRecoveryAfterKill: a member
// killed, restarted one second later): classic protocol, static, 1 s until
// its partitions were read again; classic, dynamic, SessionTimeout(6s):
// 5.8 s; classic, dynamic, default session: 45 s. Under [ConsumerProtocol]
// the broker refuses the restarted instance's ID while the killed holder
// has not timed out (UNRELEASED_INSTANCE_ID), so a crash costs the
// broker's session timeout (45 s by default, static or not); static
// membership there helps restarts that stop cleanly.
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
	if m.session > 0 && m.protocol == ConsumerProtocol {
		errs = append(errs, errors.New("SessionTimeout applies to the classic protocol only: the broker sets it under KIP-848"))
	}
	return errs
}

// opts returns the kgo options for the membership.
func (m membership) opts() []kgo.Opt {
	var opts []kgo.Opt
	if m.protocol == ConsumerProtocol {
		// kgo speaks KIP-848 with a server-side assignor it can name:
		// the sticky balancer maps to the broker's "uniform" assignor.
		opts = append(opts, kgo.ServerSideBalancer(), kgo.Balancers(kgo.StickyBalancer()))
	}
	if m.session > 0 {
		opts = append(opts, kgo.SessionTimeout(m.session))
	}
	if m.instanceID != "" {
		opts = append(opts, kgo.InstanceID(m.instanceID))
	}
	return opts
}
