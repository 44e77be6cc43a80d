package producer

import (
	"fmt"
	"time"

	"github.com/ordo-go/ordo/internal/client"
	"github.com/ordo-go/ordo/internal/telemetry"
	"github.com/ordo-go/ordo/schema"
)

// Option configures a [Producer]. Only this package can mint options; pass
// them to [New].
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// CountChangePolicy says what a producer does when a topic's partition count
// changes under it. Adding partitions moves keys to other partitions, so
// events of one key written before and after the change can be consumed out
// of order.
type CountChangePolicy int

const (
	// Refuse fails every keyed record for the topic with a
	// [*partition.CountChangedError] until [Producer.AcceptPartitionCount]
	// accepts the new count. Restarting the producer does not end it: the
	// count is stamped into the topic (see [NewPublisher]). This is the
	// default.
	Refuse CountChangePolicy = iota
	// Warn logs the change once (at slog.LevelWarn) and adopts the new
	// count: records keep flowing to the keys' new partitions, stamped
	// with the new count.
	Warn
)

// String returns "refuse" or "warn".
func (p CountChangePolicy) String() string {
	switch p {
	case Refuse:
		return "refuse"
	case Warn:
		return "warn"
	}
	return fmt.Sprintf("CountChangePolicy(%d)", int(p))
}

// Defaults of the options that have one.
const (
	// DefaultMaxBufferedRecords is the default of [MaxBufferedRecords].
	DefaultMaxBufferedRecords = 10000
	// DefaultMaxBufferedBytes is the default of [MaxBufferedBytes]: 64 MiB,
	// which 10,000 events of up to about 6 KiB fit in, so that the record
	// bound decides for small events and this one for large.
	DefaultMaxBufferedBytes = 64 << 20
	// DefaultLinger is the default of [Linger]: no linger. franz-go's own
	// default is 10 ms, which every synchronous Publish paid in full (100
	// sequential calls took 1.06 s instead of 5 ms: BenchmarkSyncPublish).
	DefaultLinger = 0
	// DefaultMetadataMaxAge is how often the producer's client refreshes
	// topic metadata, and so the longest a partition-count change goes
	// unnoticed (franz-go's default is 5 minutes). Override it with
	// kgo.MetadataMaxAge through [KgoOpts]; below 5 s add
	// kgo.MetadataMinAge no longer than it (franz-go refuses a max age
	// below its min age, 5 s by default).
	DefaultMetadataMaxAge = time.Minute
	// DefaultDeliveryTimeout is the default of [DeliveryTimeout]: the Java
	// client's delivery.timeout.ms default (franz-go's own is no limit).
	DefaultDeliveryTimeout = client.DefaultDeliveryTimeout
	// DefaultClientLogLevel was the default of [ClientLogLevel].
	//
	// Deprecated: franz-go's log level is set by [KgoLogLevel], as in
	// every role; its default is slog.LevelWarn.
	DefaultClientLogLevel = client.DefaultKgoLogLevel
)

type config struct {
	set              client.Settings // Brokers, TLS, SASL, Registry, WithLogger, KgoLogLevel, KgoOpts
	maxBuffered      int
	maxBufferedBytes int64
	linger           time.Duration
	delivery         time.Duration
	subjects         schema.SubjectStrategy
	mode             schema.Mode
	policy           CountChangePolicy
	instanceID       string
	idSet            bool
	tel              telemetry.Config
	errs             []error // option errors, reported by New
}

func defaultConfig() config {
	return config{
		maxBuffered:      DefaultMaxBufferedRecords,
		maxBufferedBytes: DefaultMaxBufferedBytes,
		linger:           DefaultLinger,
		delivery:         DefaultDeliveryTimeout,
		subjects:         schema.TopicName,
		policy:           Refuse,
	}
}

func (c *config) fail(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
}

// MaxBufferedRecords bounds the records a producer holds that Kafka has not
// acknowledged yet, across all its publishers. When the bound is reached,
// Publish, PublishAsync and PublishAll block until records are acknowledged
// (or their ctx ends), and TryPublishAsync fails with [ErrBufferFull]. The
// default is [DefaultMaxBufferedRecords]; n must be positive.
func MaxBufferedRecords(n int) Option {
	return optionFunc(func(c *config) {
		if n <= 0 {
			c.fail("MaxBufferedRecords: %d, want > 0", n)
			return
		}
		c.maxBuffered = n
	})
}

// MaxBufferedBytes bounds the bytes the records a producer holds that
// Kafka has not acknowledged yet take, across all its publishers, as
// [MaxBufferedRecords] bounds their number; whichever bound is reached
// first pushes back the same way: Publish, PublishAsync and PublishAll
// wait until records are acknowledged or failed (or their ctx ends, or
// the producer closes), and TryPublishAsync fails at once with
// [ErrBufferFull]. A record counts its key, its framed value, its
// headers' keys and values (ordo's and the caller's) and a fixed
// overhead of a few hundred bytes. A record larger than n is not refused:
// it waits until no bytes are held and goes alone, so one large event
// neither deadlocks the producer nor needs a larger bound. The default is
// [DefaultMaxBufferedBytes]; n must be positive.
//
// The bound holds with the brokers gone or not answering: 10,000 events
// of 25 KB held 266 MiB before it existed; with n = 8 MiB, 298 were taken
// in and the heap grew by 8 to 10.5 MiB (TestMaxBufferedBytesHolds):
// franz-go's serialized produce requests come on top of what is counted.
func MaxBufferedBytes(n int64) Option {
	return optionFunc(func(c *config) {
		if n <= 0 {
			c.fail("MaxBufferedBytes: %d, want > 0", n)
			return
		}
		c.maxBufferedBytes = n
	})
}

// Linger sets how long a partition's batch may wait for more records
// before it is sent (kgo.ProducerLinger). The default is [DefaultLinger],
// 0: a batch is sent as soon as a produce request can carry it. Batching
// still happens under load without a linger: while up to five produce
// requests per broker are in flight (the idempotent producer's limit),
// records accumulate into the next batch, so async throughput is the same
// as with franz-go's 10 ms default (BenchmarkPublish).
//
// What it costs: every record waits up to d before its batch is sent, and
// a synchronous [Publisher.Publish] waits the whole of it (its batch holds
// one record unless other goroutines publish to the same partition at the
// same moment): with 10 ms, 100 sequential Publish calls take about 1 s
// instead of 5 ms (BenchmarkSyncPublish). A longer linger pays off only for
// async publishers that write many small records to few partitions at a
// low rate, where fuller batches mean fewer requests. d must be between 0
// and a minute (kgo's bound).
func Linger(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d < 0 || d > time.Minute {
			c.fail("Linger: %v, want 0 to 1m", d)
			return
		}
		c.linger = d
	})
}

// DeliveryTimeout bounds how long an event may take from the moment it is
// handed to the client until Kafka acknowledges it (kgo.RecordDeliveryTimeout,
// the Java client's delivery.timeout.ms), linger and retries included.
// Past it the event fails with a [*PublishError] wrapping
// [ErrDeliveryTimeout], even for a caller whose ctx has no deadline: an
// unreachable cluster or a rejected login is reported, not waited on for
// ever. The default is [DefaultDeliveryTimeout]; d must be positive.
//
// The timeout holds in every broker state, including a request sent and
// never answered (a broker gone after the topic was used, or one that
// keeps the connection open and stops answering), where franz-go alone
// would wait on: the producer sets kgo.AllowIdempotentProduceCancellation
// and gives every record its deadline. A synchronous Publish, PublishAll
// or PublishBatch returns [ErrDeliveryTimeout] within d + [DeliverySlack]
// of handing its events over (3.1 s with a broker black-holed, 4.0 s with
// its connections refused, for d = 3 s: TestDeliveryTimeoutWhenBrokerGoes).
// A PublishAsync callback is called when franz-go fails the record: in
// the same test after 3.1 s with the broker black-holed, but 5.7 to 7.0 s
// with its connections refused, since franz-go then retries, and checks
// the deadline, only after a metadata refresh (kgo.MetadataMinAge, 5 s
// by default, apart); the record's buffer slot is held until then.
//
// A broker that accepts connections and closes them at once makes
// franz-go fail the records it holds with its own error at its next
// metadata refresh, which can be before the timeout: such an event, too,
// may or may not have been written.
//
// What it costs: an event that timed out may or may not have been written
// (see [ErrDeliveryTimeout]: the idempotent sequence is given up and a
// retry may duplicate it); it fails together with every event buffered
// behind it for the same partition (so that no later event of a key is
// written after an earlier one failed), and a timeout shorter than a
// broker restart or leader election fails events that retrying would have
// delivered.
func DeliveryTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d <= 0 {
			c.fail("DeliveryTimeout: %v, want > 0", d)
			return
		}
		c.delivery = d
	})
}

// Subjects sets the subject-name strategy under which event schemas are
// registered. The default is schema.TopicName (the Confluent default), which
// allows one event type per topic; to publish several types to one topic
// (an order's Created, Paid and Shipped on one key, in order), use
// schema.RecordName or schema.TopicRecordName.
func Subjects(s schema.SubjectStrategy) Option {
	return optionFunc(func(c *config) {
		switch s {
		case schema.TopicName, schema.RecordName, schema.TopicRecordName:
			c.subjects = s
		default:
			c.fail("Subjects: unknown strategy %d", int(s))
		}
	})
}

// OnPartitionCountChange sets what happens when a topic's partition count
// changes while the producer publishes keyed events to it. The default is
// [Refuse].
//
// A running producer notices a change when its client refreshes the
// topic's metadata: every [DefaultMetadataMaxAge] unless kgo.MetadataMaxAge
// is given through [KgoOpts] (see DefaultMetadataMaxAge for an age under
// 5 s), or sooner after a produce error. A producer
// started after a change notices it at [NewPublisher], from the count
// stamped on the topic's newest stamped records: read back from the end
// of up to 64 partitions, past records other writers left unstamped, up
// to 1,000 records per partition and 32 MiB in all
// (TestCountGuardSeesPastOtherWriters).
//
// When the topic holds records but none read back that far carries a
// stamp (ordo never published keyed events there, or other writers wrote
// the last 1,000 records of every partition read), the count cannot be
// known: under either policy the producer logs a warning naming the topic
// and starts from the count now, so a change made before it started goes
// unnoticed. It does not refuse: a service adopting a topic other stacks
// write must be able to start. A change made while it runs is noticed as
// always.
func OnPartitionCountChange(p CountChangePolicy) Option {
	return optionFunc(func(c *config) {
		if p != Refuse && p != Warn {
			c.fail("OnPartitionCountChange: unknown policy %d", int(p))
			return
		}
		c.policy = p
	})
}

// Name names this producer instance in the ordo-producer header of every
// record (consumer.Meta.Producer), next to its per-key ordo-seq.
// Consumers check sequences per (producer, key), so two live producers
// must not share a name. The default is a random UUID, new for every
// [New]; name must not be empty. It is not Kafka's client.id, nor the
// consumer's InstanceID (a static group member's ID).
func Name(name string) Option {
	return optionFunc(func(c *config) {
		if name == "" {
			c.fail("Name: empty")
			return
		}
		c.instanceID, c.idSet = name, true
	})
}

// InstanceID is [Name].
//
// Deprecated: use Name. The consumer's InstanceID means a static group
// member's ID; the producer's name was renamed so that one name has one
// meaning.
func InstanceID(id string) Option { return Name(id) }

// PublisherOption configures one publisher: pass it to [NewPublisher] or
// [NewUnorderedPublisher]. Only this package can mint one.
type PublisherOption interface {
	applyPublisher(*pubConfig)
}

type pubConfig struct {
	mode         schema.Mode
	modeSet      bool
	allowMissing bool // AllowMissingTopic
}

// AllowMissingTopic lets [NewPublisher] and [NewUnorderedPublisher] accept
// a topic that does not exist yet, for a topic that another process
// creates later. Until it exists every publish fails (franz-go reports
// UNKNOWN_TOPIC_OR_PARTITION, and the event is retried until its
// [DeliveryTimeout]), so by default a missing topic is refused at once
// with an error wrapping [ErrUnknownTopic]: a misspelt topic is found at
// start, not after events have timed out. ordo never asks the broker to
// create a topic.
func AllowMissingTopic() PublisherOption {
	return publisherOptionFunc(func(c *pubConfig) { c.allowMissing = true })
}

type publisherOptionFunc func(*pubConfig)

func (f publisherOptionFunc) applyPublisher(c *pubConfig) { f(c) }

// RegistrationOption is both an [Option] (the producer's default) and a
// [PublisherOption] (one publisher's override).
type RegistrationOption interface {
	Option
	PublisherOption
}

type registrationOpt schema.Mode

func (m registrationOpt) apply(c *config) {
	if err := checkMode(schema.Mode(m)); err != nil {
		c.errs = append(c.errs, err)
		return
	}
	c.mode = schema.Mode(m)
}

func (m registrationOpt) applyPublisher(c *pubConfig) { c.mode, c.modeSet = schema.Mode(m), true }

func checkMode(m schema.Mode) error {
	switch m {
	case schema.AutoRegister, schema.LookupOnly, schema.UseLatest:
		return nil
	}
	return fmt.Errorf("%w: Registration: unknown mode %d", ErrInvalidConfig, int(m))
}

// Registration sets how a publisher finds the schema ID it frames events
// with. Given to [New] it is the producer's default; given to
// [NewPublisher] it overrides it for that publisher. The default is
// schema.AutoRegister.
//
//   - schema.AutoRegister registers the codec's schema if needed, after
//     the compatibility gate. Costs a registry round trip or three per
//     publisher, once, and write access to the registry.
//   - schema.LookupOnly finds the ID of the codec's exact schema under the
//     subject and never registers: for a registry written only by CI or a
//     schema owner, with read-only credentials for services. A schema not
//     registered there fails [NewPublisher] with a *schema.ModeError
//     wrapping schema.ErrNotRegistered. Costs one lookup per publisher.
//   - schema.UseLatest writes with the subject's latest version, whatever
//     the codec's own schema text, once the Go type is checked to bind to
//     it: events are encoded with the latest schema (fields it lacks are
//     not written; fields it has that the Go type lacks must have
//     defaults). The version is the latest when the
//     publisher is made; a version registered later is used by publishers
//     made after it. A Go type that does not bind, or another record type
//     than the codec's, fails NewPublisher with a *schema.ModeError. Costs
//     a registry call or two per publisher, and every reference of the
//     latest version once.
func Registration(m schema.Mode) RegistrationOption { return registrationOpt(m) }
