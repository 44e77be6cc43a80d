package consumer

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// defaultSession is the session timeout when [SessionTimeout] is not given
// (classic protocol; under KIP-848 the broker's applies). Kafka's 45 s left
// a crashed member's partitions unread for 45 s; 10 s, with kgo's 3 s
// heartbeats, lets a member miss two heartbeats before it is evicted.
const defaultSession = 10 * time.Second

// Group config names (KIP-848, Kafka 4.0 and newer) and the broker setting
// that bounds the session timeout from below.
const (
	groupSessionConfig      = "consumer.session.timeout.ms"
	brokerMinSessionSetting = "group.consumer.min.session.timeout.ms"
)

// setGroupSessionTimeout is how long setting the group's session timeout
// may take once a broker has answered, and setGroupSessionRetry the wait
// before asking again after a retriable error.
const (
	setGroupSessionTimeout = 30 * time.Second
	setGroupSessionRetry   = 500 * time.Millisecond
)

// groupSession carries [SessionTimeout] to the broker under KIP-848, where
// the session timeout is a group config (consumer.session.timeout.ms)
// rather than a field of the member's join. It is set once per Run, once a
// broker has answered (connectWatch); a broker that refuses it is reported
// once, at WARN, and the broker's session timeout stays.
//
// The member joins only after it (join): the broker reads the group's
// session timeout when a heartbeat arrives and arms the member's session
// timer with it, so a member whose first heartbeat came before the config
// was set had the broker's 45 s until its next heartbeat (5 s later, the
// broker's interval), and a member killed in that window left its
// partitions unread for 45 s (the fault suite: 46 s after a kill early in
// a member's life, 6.7 s after a later one). kgo joins as soon as it
// knows a consumed topic, so under KIP-848 with a session to set the
// client is made consuming nothing (kgoOpts), and join adds the topics.
type groupSession struct {
	cl      *kgo.Client
	log     *slog.Logger
	group   string
	session time.Duration // 0: nothing to set, and the client consumes from its start
	topics  []string      // consumed from join on
}

// joinsLate reports whether the member must wait for the group's session
// timeout before it joins: under KIP-848, with a session to set.
func (m membership) joinsLate() bool { return m.groupSession() > 0 }

// join starts consuming, and with it the group membership, once the
// session is set (or refused: the broker's applies). Called once, by
// connectWatch.
func (g groupSession) join() {
	if g.session > 0 {
		g.cl.AddConsumeTopics(g.topics...)
	}
}

// apply sets the group's consumer.session.timeout.ms. The setting is the
// group's, not the member's: the last member to set it wins, and it
// outlives the consumer (the broker keeps it until it is deleted).
func (g groupSession) apply(ctx context.Context) {
	if g.session <= 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, setGroupSessionTimeout)
	defer cancel()
	err := g.set(ctx)
	// A broker that cannot answer now (a controller moving, a request
	// timed out) is asked again: the member waits for it to join, and a
	// refusal now would leave the broker's 45 s for the whole Run.
	for err != nil && kerr.IsRetriable(err) && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-time.After(setGroupSessionRetry):
			err = g.set(ctx)
		}
	}
	if ctx.Err() != nil && err != nil && errors.Is(err, context.Canceled) {
		return // the consumer is stopping
	}
	if err != nil {
		g.log.Warn("the broker refused the group's session timeout: a crashed member's partitions wait for "+
			"the broker's group.consumer.session.timeout.ms (45 s by default) instead",
			"session_timeout", g.session, "error", err,
			"fix", "set the brokers' "+brokerMinSessionSetting+" at or below "+
				strconv.FormatInt(g.session.Milliseconds(), 10)+
				" (default 45000) and allow this client ALTER_CONFIGS on the group")
		return
	}
	g.log.Info("group session timeout set", "session_timeout", g.session)
}

// set sends the IncrementalAlterConfigs request for the group resource.
func (g groupSession) set(ctx context.Context) error {
	cfg := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	cfg.Name = groupSessionConfig
	cfg.Op = kmsg.IncrementalAlterConfigOpSet
	cfg.Value = kmsg.StringPtr(strconv.FormatInt(g.session.Milliseconds(), 10))
	res := kmsg.NewIncrementalAlterConfigsRequestResource()
	res.ResourceType = kmsg.ConfigResourceTypeGroupConfig
	res.ResourceName = g.group
	res.Configs = append(res.Configs, cfg)
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	req.Resources = append(req.Resources, res)
	resp, err := req.RequestWith(ctx, g.cl)
	if err != nil {
		return err
	}
	if len(resp.Resources) != 1 {
		return errors.New("no answer for the group resource")
	}
	r := resp.Resources[0]
	if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
		if r.ErrorMessage != nil && *r.ErrorMessage != "" {
			return errors.Join(err, errors.New(*r.ErrorMessage))
		}
		return err
	}
	return nil
}
