package dlq

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	// kgoDefaultBatch is franz-go's default batch limit, used for a topic
	// whose configuration cannot be read.
	kgoDefaultBatch = 1_000_012
	// maxBatch is the largest batch franz-go writes in a default request
	// (100 MiB, less room for the request around it).
	maxBatch = 100<<20 - 64<<10
)

// topicLimits sizes a redrive's batches to each original topic's
// max.message.bytes: with franz-go's default, a record the topic took
// (and the dead-letter topic too) but larger than 1,000,012 bytes could
// never be redriven. Each topic is read once, before the first record is
// written to it, which is before franz-go asks (it asks when it first
// places a record of the topic, and keeps the answer). Safe for
// concurrent use.
type topicLimits struct {
	mu sync.Mutex
	m  map[string]int32
}

// read learns topic's limit unless known; an error is one the write
// would meet too (the topic is missing, the cluster unreachable).
func (l *topicLimits) read(ctx context.Context, cl *kgo.Client, topic string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.m[topic]; ok {
		return nil
	}
	n, err := TopicLimit(ctx, cl, topic)
	if err != nil {
		if !errors.Is(err, kerr.TopicAuthorizationFailed) && !errors.Is(err, kerr.ClusterAuthorizationFailed) &&
			!errors.Is(err, kerr.UnsupportedVersion) {
			return fmt.Errorf("dlq: read max.message.bytes of %q: %w", topic, err)
		}
		n = kgoDefaultBatch
	}
	if l.m == nil {
		l.m = make(map[string]int32)
	}
	l.m[topic] = int32(min(max(n, 512), maxBatch)) // franz-go takes no less than 512
	return nil
}

// batch is the client's ProducerBatchMaxBytesFn.
func (l *topicLimits) batch(topic string) int32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n, ok := l.m[topic]; ok {
		return n
	}
	return kgoDefaultBatch
}
