package partition

import (
	"errors"
	"fmt"
)

// ErrNoKey is returned for an event whose PartitionKey is empty. ordo never
// publishes an ordered event without a key: Kafka would spread such records
// over partitions and their order would be lost.
var ErrNoKey = errors.New("partition: event has an empty partition key")

// ErrCountChanged is the state behind a [CountChangedError]: a topic's
// partition count differs from the one first seen.
var ErrCountChanged = errors.New("partition: topic partition count changed")

// ErrNilGuard is returned by Check on a nil *[Guard]: it has nowhere to
// keep counts, so it cannot vouch for any.
var ErrNilGuard = errors.New("partition: nil *Guard")

// CountChangedError reports that a topic's partition count changed while an
// ordered stream was using it. Adding partitions moves keys to other
// partitions, so records of one key written before and after the change may
// be read out of order.
type CountChangedError struct {
	Topic string
	Was   int // the count first seen
	Now   int // the count seen now
}

func (e *CountChangedError) Error() string {
	return fmt.Sprintf("partition: topic %q partition count changed from %d to %d: keys now map to other partitions and per-key order is no longer guaranteed", e.Topic, e.Was, e.Now)
}

// Unwrap returns [ErrCountChanged].
func (e *CountChangedError) Unwrap() error { return ErrCountChanged }

// ErrorClass names the error's class for telemetry (the error.type
// attribute): "partition_count_changed", on the producer's side and the
// consumer's alike.
func (e *CountChangedError) ErrorClass() string { return "partition_count_changed" }
