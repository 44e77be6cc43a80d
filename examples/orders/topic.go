package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ensureTopic creates topic with partitions partitions unless it exists,
// waits until it is ready (see waitTopicReady) and returns its partition
// count, which for an existing topic may differ from partitions.
func ensureTopic(ctx context.Context, brokers []string, topic string, partitions int) (int, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	// kadm returns the topic's error as err too: TopicAlreadyExists comes
	// back there, not only in the response.
	_, err = adm.CreateTopic(ctx, int32(partitions), -1, nil, topic)
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return 0, fmt.Errorf("create topic %q: %w", topic, err)
	}
	return waitTopicReady(ctx, adm, topic)
}

// waitTopicReady waits until every partition of topic answers ListOffsets
// without an error and returns the number of partitions.
//
// Why: on a real broker a topic just created is not ready when
// CreateTopics returns. A producer's first produce then gets
// NOT_LEADER_FOR_PARTITION and waits out the client's metadata min age,
// and a consumer's ListOffsets gets UNKNOWN_TOPIC_OR_PARTITION and waits
// behind a long poll: measured, 6 of 10 runs stalled about 5 s. Waiting for
// leaders in the metadata did not help (the metadata names a leader before
// the leader serves the partition); waiting for ListOffsets, which the
// leader itself answers, removed the stall in 10 of 10 runs.
func waitTopicReady(ctx context.Context, adm *kadm.Client, topic string) (int, error) {
	var last error
	for {
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err == nil {
			err = ends.Error()
		}
		if err == nil && len(ends[topic]) > 0 {
			return len(ends[topic]), nil
		}
		last = err
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			return 0, fmt.Errorf("topic %q not ready: %w (last: %v)", topic, ctx.Err(), last)
		}
	}
}
