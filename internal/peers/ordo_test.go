package peers

import (
	"context"
	"testing"

	"github.com/ordo-go/ordo/consumer"
)

// ordoConsume reads topic from the start in group with ordo's consumer
// and its defaults, a typed handler per record, until m has seen its n.
func ordoConsume(tb testing.TB, e *env, topic, group string, m *meter) {
	tb.Helper()
	m.begin()
	c, err := consumer.New(consumer.Brokers(e.cluster.Brokers()...), consumer.Group(group), consumer.Topics(topic),
		consumer.Registry(e.reg), consumer.WithLogger(quiet),
		consumer.On(e.codec, func(_ context.Context, p Payload, _ consumer.Meta) error {
			m.seen(&p)
			return nil
		}))
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	ran := make(chan error, 1)
	go func() { ran <- c.Run(context.Background()) }()
	m.wait(tb, ran)
	c.Close()
	<-ran
}
