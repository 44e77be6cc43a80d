package client

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Writer is what one role's Kafka writer adds to the shared settings: the
// producer, the consumer's dead-letter client and consumer/dlq's redrive
// client are all made by [Settings.WriterOpts], so what makes a writer
// safe is written once:
//
//   - acks=all, and idempotence (kgo's default, never turned off here):
//     an acknowledged record survives the loss of its leader and a retry
//     never writes it twice.
//   - kgo.AllowIdempotentProduceCancellation: without it kgo never fails
//     a record whose request went out and got no answer, so neither a
//     write's ctx nor its delivery timeout can end it (the producer's
//     TestDeliveryTimeoutWhenBrokerGoes, the consumer's
//     TestDeadLetterBrokerDown).
//   - a delivery timeout: [DefaultDeliveryTimeout] unless the role sets
//     its own, so a record is failed, not waited on for ever, whatever the
//     caller's ctx.
//   - batches no larger than what the topic takes, when the role reads the
//     topic's max.message.bytes (BatchMaxBytes).
type Writer struct {
	// Log replaces the settings' logger for franz-go's lines (a logger
	// with the writer's attributes). Nil: [Settings.Logger].
	Log *slog.Logger
	// Linger is kgo.ProducerLinger; 0 sends a batch as soon as a request
	// can carry it.
	Linger time.Duration
	// DeliveryTimeout is kgo.RecordDeliveryTimeout; 0 is
	// [DefaultDeliveryTimeout].
	DeliveryTimeout time.Duration
	// BatchMaxBytes sizes batches per topic (kgo.ProducerBatchMaxBytesFn),
	// from the topic's max.message.bytes; nil leaves kgo's default.
	BatchMaxBytes func(topic string) int32
	// Partitioner replaces kgo's default partitioner; nil keeps it.
	Partitioner kgo.Partitioner
	// Own are the role's other options, applied before the raw ones.
	Own []kgo.Opt
	// NoRaw leaves the settings' raw kgo options out: the consumer's are
	// for its group client (a kgo.ConsumerGroup would make its dead-letter
	// writer join the group).
	NoRaw bool
	// Last are applied after the raw options: settings the role owns even
	// over the escape hatch (the producer's buffer bound).
	Last []kgo.Opt
}

// DefaultDeliveryTimeout bounds a record's delivery in every writer that
// sets no timeout of its own: the Java client's delivery.timeout.ms
// default (franz-go's own is no limit).
const DefaultDeliveryTimeout = 2 * time.Minute

// WriterOpts returns the options of a writer: the connection, the safe
// writer settings above, the role's own, the raw options, then Last.
func (s *Settings) WriterOpts(w Writer) []kgo.Opt {
	log := w.Log
	if log == nil {
		log = s.Logger()
	}
	delivery := w.DeliveryTimeout
	if delivery <= 0 {
		delivery = DefaultDeliveryTimeout
	}
	opts := append(s.ClientOpts(log),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.AllowIdempotentProduceCancellation(),
		kgo.RecordDeliveryTimeout(delivery),
		kgo.ProducerLinger(w.Linger),
	)
	if w.BatchMaxBytes != nil {
		opts = append(opts, kgo.ProducerBatchMaxBytesFn(w.BatchMaxBytes))
	}
	if w.Partitioner != nil {
		opts = append(opts, kgo.RecordPartitioner(w.Partitioner))
	}
	opts = append(opts, w.Own...)
	if !w.NoRaw {
		opts = append(opts, s.raw...)
	}
	return append(opts, w.Last...)
}

// NewWriter opens a franz-go client with [Settings.WriterOpts].
func (s *Settings) NewWriter(w Writer) (*kgo.Client, error) {
	return kgo.NewClient(s.WriterOpts(w)...)
}

// CheckWriter reports every way cl falls short of the writer settings
// above (acks, idempotence, cancellable writes, a delivery timeout), for
// the roles' tests to hold their writers to; nil if it does not.
func CheckWriter(cl *kgo.Client) error {
	var errs []error
	if acks := cl.OptValue(kgo.RequiredAcks); acks != kgo.AllISRAcks() {
		errs = append(errs, fmt.Errorf("acks %v, want all", acks))
	}
	if cl.OptValue(kgo.DisableIdempotentWrite) != false {
		errs = append(errs, errors.New("idempotence off"))
	}
	if cl.OptValue(kgo.AllowIdempotentProduceCancellation) != true {
		errs = append(errs, errors.New("writes cannot be cancelled (kgo.AllowIdempotentProduceCancellation)"))
	}
	if d, _ := cl.OptValue(kgo.RecordDeliveryTimeout).(time.Duration); d <= 0 {
		errs = append(errs, errors.New("no delivery timeout"))
	}
	return errors.Join(errs...)
}
