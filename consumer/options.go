package consumer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ordo-go/ordo/internal/client"
	"github.com/ordo-go/ordo/internal/telemetry"
)

// An Option configures a [Consumer]. Options are made only by this package.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// Policy says what happens to a record that cannot be handled: one that
// cannot be decoded, has no handler, or whose handler failed every attempt.
type Policy int

const (
	// Halt stops the consumer: Run returns the [*RecordError], and nothing
	// is committed at or past the record, so a restarted consumer sees it
	// again. This is the default: no record is ever passed over silently.
	Halt Policy = iota
	// Skip reports the record to the error hook (see [ErrorHook]) and then
	// treats it as finished, so its offset is committed. Skipped records
	// are counted (Stats.Skipped, ordo.records.skipped).
	Skip
	// DeadLetter writes the record to the dead-letter topic (see
	// [DeadLetterTopic]) and, once the write is acknowledged, treats it as
	// finished. It is the default when a dead-letter topic is set.
	DeadLetter
)

func (p Policy) String() string {
	switch p {
	case Halt:
		return "halt"
	case Skip:
		return "skip"
	case DeadLetter:
		return "dead-letter"
	}
	return fmt.Sprintf("Policy(%d)", int(p))
}

type config struct {
	set               client.Settings // Brokers, TLS, SASL, Registry, WithLogger, KgoLogLevel, KgoOpts (shared.go)
	optErrs           []error         // from options, reported by New
	group             string
	membership        membership
	middleware        []Middleware
	onAssigned        func(context.Context, map[string][]int32)
	onRevoked         func(context.Context, map[string][]int32)
	topics            []string
	concurrency       int
	maxBuffered       int
	maxAttempts       int
	backoffMin        time.Duration
	backoffMax        time.Duration
	policy            Policy
	policySet         bool
	retryFor          time.Duration
	attemptTimeout    time.Duration
	dlqTopic          string
	dlqPatience       time.Duration
	dlqMayBeMissing   bool // AllowMissingDeadLetterTopic
	noQuarantine      bool
	quarantineBytes   int
	quarantineTopic   string // QuarantineTopic; "" is quarantine.TopicFor(group)
	quarantineMaxKeys int    // QuarantineMaxKeys; 0 is quarantine.DefaultMaxKeys
	tombstones        func(context.Context, Meta) error
	errorHook         func(context.Context, *RecordError)
	drainTimeout      time.Duration
	commitEvery       time.Duration
	handlers          []binding
	handlersTried     bool // On was given, if with bad arguments
	resetToStart      bool
	metadataMaxAge    time.Duration
	partRate          partRate // PartitionRateLimit (replay_partition.go)
	tel               telemetry.Config
	stuckAfter        time.Duration
	unknownWindow     time.Duration
	unreachableAfter  time.Duration
	maxBufferedBytes  int // for log lines; conn holds them for kgo
	replay            replayConfig
	txnID             string // Transactional (txn.go)
	txnSet            bool
	breaker           BreakerConfig // Breaker (breaker.go)
	noBreaker         bool          // NoBreaker
}

func defaults() config {
	return config{
		concurrency:      16,
		maxBuffered:      10_000,
		maxAttempts:      DefaultRetryAttempts,
		backoffMin:       DefaultRetryBackoffMin,
		backoffMax:       DefaultRetryBackoffMax,
		retryFor:         DefaultRetryFor,
		dlqPatience:      DefaultDeadLetterPatience,
		drainTimeout:     30 * time.Second,
		commitEvery:      time.Second,
		resetToStart:     true,
		metadataMaxAge:   DefaultMetadataMaxAge,
		stuckAfter:       time.Minute,
		unknownWindow:    DefaultUnknownSchemaWindow,
		unreachableAfter: DefaultUnreachableAfter,
		maxBufferedBytes: DefaultMaxBufferedBytes,
		replay:           replayDefaults(),
	}
}

// Group sets the consumer group. Required.
func Group(name string) Option { return optionFunc(func(c *config) { c.group = name }) }

// Topics sets the topics to consume. Required.
func Topics(names ...string) Option {
	names = append([]string(nil), names...)
	return optionFunc(func(c *config) { c.topics = names })
}

// Concurrency sets the number of lanes: records of different keys handled
// at the same time. It may exceed the number of partitions; records of one
// key are always handled one at a time. Default 16.
func Concurrency(n int) Option { return optionFunc(func(c *config) { c.concurrency = n }) }

// MaxBuffered caps the records fetched and dispatched but not yet
// finished. When the cap is reached the consumer stops dispatching until
// the lanes have finished half of them; what franz-go fetched meanwhile
// waits, staged, and nothing more is polled while it does. Memory is
// bounded by [MaxBufferedBytes]. Default 10000.
func MaxBuffered(n int) Option { return optionFunc(func(c *config) { c.maxBuffered = n }) }

// DefaultRetryAttempts, DefaultRetryBackoffMin, DefaultRetryBackoffMax,
// DefaultRetryMultiplier and DefaultRetryFor are the defaults of [Retry]
// and [RetryFor], sized for a dependency that restarts or is down for
// minutes: a record failing transiently is retried for at least 5m15s and
// at most 6m after its first attempt (200ms doubling to at most 30s, each
// wait jittered by ±50%; the time bound ends the budget, the attempts
// bound is not reached with this backoff). A longer outage that most keys
// share is the breaker's: it spends no record's budget.
const (
	DefaultRetryAttempts   = 32
	DefaultRetryBackoffMin = 200 * time.Millisecond
	DefaultRetryBackoffMax = 30 * time.Second
	DefaultRetryMultiplier = 2.0
	DefaultRetryFor        = 6 * time.Minute
)

// Retry sets how often a handler failing with transient errors is tried
// (attempts, at least 1) and the exponential backoff between tries (with
// jitter). The budget ends at the attempts or at [RetryFor], whichever
// comes first; a [Permanent] error ends it at once. While a record waits,
// later records of its key wait too (ordo.keys.parked); other keys flow.
// Default [DefaultRetryAttempts], [DefaultRetryBackoffMin] doubling
// ([DefaultRetryMultiplier]) to at most [DefaultRetryBackoffMax].
func Retry(attempts int, min, max time.Duration) Option {
	return optionFunc(func(c *config) { c.maxAttempts, c.backoffMin, c.backoffMax = attempts, min, max })
}

// RetryFor bounds a record's retry budget by time: no attempt starts once
// d has passed since the first, and none is scheduled whose wait would
// end past it. Default [DefaultRetryFor]; d must be positive.
func RetryFor(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d <= 0 {
			c.fail("RetryFor: %v, want > 0", d)
			return
		}
		c.retryFor = d
	})
}

// AttemptTimeout bounds each handler attempt: its ctx is cancelled after
// d, and a handler that returns then has failed that attempt (a transient
// failure, retried within the budget). Default: no bound; d must not be
// negative (0 is no bound).
func AttemptTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d < 0 {
			c.fail("AttemptTimeout: %v, want >= 0", d)
			return
		}
		c.attemptTimeout = d
	})
}

// OnFailure sets the policy for records that cannot be handled. Default
// [DeadLetter] when a dead-letter topic is set ([DeadLetterTopic]),
// otherwise [Halt]: without somewhere to put a record, stopping is the
// only choice that loses nothing.
func OnFailure(p Policy) Option {
	return optionFunc(func(c *config) { c.policy, c.policySet = p, true })
}

// DefaultDeadLetterPatience is how long a record waits for the
// dead-letter topic by default (see [DeadLetterTopic]).
const DefaultDeadLetterPatience = 2 * time.Minute

// DeadLetterTopic enables the dead-letter topic: under the [DeadLetter]
// policy (then the default), a record that cannot be handled is written
// to topic with its original key, value and headers plus the dead-letter
// headers (see package consumer/dlq), by an idempotent producer with
// acks=all, carrying the record's trace context; its offset is marked
// only once the write is acknowledged. The topic must exist: Run fails
// with [ErrUnknownTopic] if it does not (see
// [AllowMissingDeadLetterTopic]). Writes are
// sized from the topic's max.message.bytes (read before the first one);
// a dead letter larger than that is written cut, with reason "too-large"
// (consumer/dlq's Fit says what is left out), so a record the source
// topic accepted always reaches the dead-letter topic.
//
// Later records of the same key in the same partition follow it to the
// dead-letter topic (reason "quarantined") until the key is redriven (see
// consumer/dlq's Client.Redrive), so a key's events stay together and in
// order; other keys never wait. See [ContinueAfterDeadLetter] to handle
// them instead. The quarantined keys are kept in the group's quarantine
// store (see [QuarantineTopic]), written and acknowledged before each
// commit (each transaction, with [Transactional]), so the next owner of a partition, after a restart or a
// rebalance, knows them. Up to [QuarantineMaxKeys] keys per partition
// are quarantined; a key dead-lettered beyond that halts the consumer
// ([ErrQuarantineFull]): its order is never broken.
//
// If a write fails (the topic is missing, not authorised, the brokers are
// down), the record waits and the write is retried with backoff; its key
// waits, other keys flow. After [DeadLetterPatience] (default
// [DefaultDeadLetterPatience]) the consumer halts: Run returns a
// [*DeadLetterError] and the record's offset is not committed.
func DeadLetterTopic(topic string) Option {
	return optionFunc(func(c *config) {
		if topic == "" {
			c.fail("DeadLetterTopic: empty topic name")
			return
		}
		c.dlqTopic = topic
	})
}

// AllowMissingDeadLetterTopic lets Run start when the [DeadLetterTopic]
// does not exist yet, for a topic another process creates later. By
// default Run fails within a second or two of its start, with an error
// wrapping [ErrUnknownTopic] that names the topic, when the cluster says
// the dead-letter topic does not exist (as Spring Kafka's
// missingTopicsFatal=true does for its topics): otherwise a missing topic
// is found only when the first poison record arrives, possibly weeks
// after the deploy, and the consumer then halts after
// [DeadLetterPatience]. It fails rather than warns because that halt is
// all the consumer could do with its first poison record, and a deploy
// that fails at once is rolled back before it has read anything. A cluster that does not let the consumer describe
// the topic is not refused; its first write says. ordo never asks the
// broker to create a topic.
func AllowMissingDeadLetterTopic() Option {
	return optionFunc(func(c *config) { c.dlqMayBeMissing = true })
}

// DeadLetterPatience sets how long a record keeps trying to reach the
// dead-letter topic before the consumer halts with a [*DeadLetterError].
// Default [DefaultDeadLetterPatience]; d must be positive. One write waits
// up to 10 s for the broker's answer, so against a broker that swallows
// writes the halt comes when the write that outlives the patience ends.
func DeadLetterPatience(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d <= 0 {
			c.fail("DeadLetterPatience: %v, want > 0", d)
			return
		}
		c.dlqPatience = d
	})
}

// ContinueAfterDeadLetter turns key quarantine off: after a record is
// dead-lettered, the later records of its key are handled as usual. That
// breaks the key's order (a redriven record lands after events that
// followed it) and is the caller's choice to make.
func ContinueAfterDeadLetter() Option { return optionFunc(func(c *config) { c.noQuarantine = true }) }

// QuarantineTopic names the group's quarantine store: the compacted topic
// that holds the keys quarantined behind dead letters (see
// [DeadLetterTopic]), by default "<group>.ordo-quarantine" (characters a
// topic name cannot hold replaced by '_', with a hash of the group added
// then). Run creates it if it is missing, compacted, with as many
// partitions as the largest consumed topic and at least 64; that needs
// the CREATE right on the topic (or the cluster), and the consumer needs
// READ, WRITE and DESCRIBE_CONFIGS on it. If it cannot be created or is
// not compacted, Run fails with an error matching [ErrQuarantineStore]
// that names the topic: create it beforehand (cleanup.policy=compact), or
// name one the consumer may use. Never add partitions to it.
func QuarantineTopic(name string) Option {
	return optionFunc(func(c *config) {
		if name == "" {
			c.fail("QuarantineTopic: empty topic name")
			return
		}
		c.quarantineTopic = name
	})
}

// QuarantineMaxKeys bounds the keys quarantined at once in one partition
// (default 1,000,000; a quarantined key takes under 66 bytes of the
// consumer's memory). A dead letter whose key would be one more halts the
// consumer: Run returns an error matching [ErrQuarantineFull], the record's
// offset is not committed (it is dead-lettered again after the restart),
// and no later record of the key is handled. A halt, not a paused
// partition: a paused partition would wait for redrives it can no longer
// read (they arrive in the partition itself), and an operator must act
// either way; raise the bound, or redrive the dead letters.
func QuarantineMaxKeys(n int) Option {
	return optionFunc(func(c *config) {
		if n < 1 {
			c.fail("QuarantineMaxKeys: %d, want > 0", n)
			return
		}
		c.quarantineMaxKeys = n
	})
}

// Tombstones registers fn for records with a null value (tombstones, as
// compaction uses them to delete a key). Without it a tombstone is poison:
// a [*RecordError] at [StageUnframe] matching [ErrTombstone], under the
// failure policy. Meta.Type is empty and Meta.SchemaID 0 for a tombstone.
func Tombstones(fn func(ctx context.Context, m Meta) error) Option {
	return optionFunc(func(c *config) {
		if fn == nil {
			c.fail("Tombstones: nil handler")
			return
		}
		c.tombstones = fn
	})
}

// ErrorHook is called for every record that cannot be handled, before the
// failure policy applies, and for every record dead-lettered behind its
// key's quarantine ([StageQuarantine]). The [*RecordError] carries the
// whole record (value and headers included) and its class. The hook runs
// on the lane that handled the record and should not block for long.
// Default: none.
func ErrorHook(fn func(context.Context, *RecordError)) Option {
	return optionFunc(func(c *config) { c.errorHook = fn })
}

// DrainTimeout bounds how long a revoked partition's in-flight records, or
// all records when Run's context is cancelled, may take to finish before
// their offsets are committed and the consumer moves on. At the deadline
// the handlers still running are cancelled (on a revoke, only the revoked
// partitions'); see [Handler] for what a handler that ignores that can
// cause. Keep it below the group's rebalance timeout. Default 30s.
func DrainTimeout(d time.Duration) Option { return optionFunc(func(c *config) { c.drainTimeout = d }) }

// CommitInterval sets how often finished offsets are committed while the
// consumer runs (at least 100ms). Offsets are also committed on revoke and
// on shutdown. Default 1s.
func CommitInterval(d time.Duration) Option { return optionFunc(func(c *config) { c.commitEvery = d }) }

// StartAtEnd makes a group that has no committed offset on a topic start
// at the end of each partition the topic had when the consumer was first
// assigned partitions, and commit that position at once. Any partition
// created after the group started holds nothing older than the group, and
// is read from its start: one added while the consumer runs, and one the
// group has no commit on in a topic where it has committed a handled
// record (added while the whole group was down). So no record written to
// a new partition before the consumer noticed it is skipped. A group that
// has not yet handled a record of the topic is fresh again when it
// restarts: partitions added while it was down start at their end, like
// the others. A committed offset that has left the
// log (retention) resumes at the end. Default: every partition without a
// commit starts at its beginning, so nothing written before the group's
// first run is missed.
func StartAtEnd() Option { return optionFunc(func(c *config) { c.resetToStart = false }) }

// DefaultMetadataMaxAge is the default of [MetadataMaxAge].
const DefaultMetadataMaxAge = 5 * time.Second

// MetadataMaxAge sets how often the consumer refreshes the metadata of
// the consumed topics, and so how long partitions added to a topic may go
// unnoticed: they are read after d, up to a heartbeat interval (3 s) for
// the group's leader to rejoin, and a rebalance (8 s in all at the
// default, measured on the embedded cluster). Default
// [DefaultMetadataMaxAge]; franz-go's own is 5 minutes, which left events
// on new partitions waiting for minutes. The cost is one metadata request for the consumed topics per
// consumer every d. A record stamped by ordo's producer with a partition
// count the consumer has not seen also refreshes the metadata at once.
// d must be between 100ms and 1h. Below 5s it also lowers franz-go's
// MetadataMinAge, the floor between two refreshes, to d (franz-go refuses
// a max age below that floor, so kgo.MetadataMaxAge alone through
// [KgoOpts] fails for d < 5s).
func MetadataMaxAge(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d < 100*time.Millisecond || d > time.Hour {
			c.fail("MetadataMaxAge: %v, want 100ms to 1h", d)
			return
		}
		c.metadataMaxAge = d
	})
}

// StuckAfter sets how long a partition with lag may go without its commit
// point moving before it is reported stuck: a warning naming the partition,
// the offset and the key it is stuck at, and the ordo.consumer.stuck
// metric. Partitions that become stuck while the breaker is open (see the
// package doc, "Breaker") share one warning, at most once a minute, that
// counts them, and one line when they move again. Default 1 minute.
func StuckAfter(d time.Duration) Option { return optionFunc(func(c *config) { c.stuckAfter = d }) }

// fail records a configuration problem; New reports them all at once.
func (c *config) fail(format string, args ...any) {
	c.optErrs = append(c.optErrs, fmt.Errorf(format, args...))
}

// validate returns every configuration problem, joined, wrapping
// [ErrInvalidConfig]; nil if there is none.
// DefaultUnknownSchemaWindow is the default of [UnknownSchemaWindow].
const DefaultUnknownSchemaWindow = 3 * time.Second

// UnknownSchemaWindow sets how long a schema ID the registry answers as
// unknown (error 40403) is confirmed before the record is final: it is
// looked up again four more times, evenly over d, and only if every answer
// is "unknown" does the failure policy apply (a [*RecordError] at
// [StageSchema] matching schema.ErrUnknownSchema). A replicated registry
// can briefly not know an ID that exists; without the window, [Skip]
// would discard good records. While a record waits, later records of its
// key wait with it; other keys flow. 0 makes the first answer final.
// Default [DefaultUnknownSchemaWindow]; d must not be negative.
func UnknownSchemaWindow(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d < 0 {
			c.fail("UnknownSchemaWindow: %v, want >= 0", d)
			return
		}
		c.unknownWindow = d
	})
}

// DefaultMaxBufferedBytes is the default of [MaxBufferedBytes].
const DefaultMaxBufferedBytes = 64 << 20

// MaxBufferedBytes bounds the memory the consumer holds for records.
//
// Half of n is for records dispatched and not yet finished, each counted
// as what it holds: its key, its value twice (the bytes fetched, and the
// event decoded from them while a lane handles it), its headers' keys and
// values plus 48 bytes a header (franz-go decodes each into a 40-byte
// RecordHeader and its key into a string of its own), and ~0.4KiB of
// bookkeeping (franz-go's Record, the consumer's item, its tracker
// entry); together with the offsets of records finished behind an
// unfinished one (24 bytes each: a key retrying for minutes while other
// keys flow leaves one per record handled meanwhile). The consumer stops
// dispatching while they fill it, or [MaxBuffered] records. A record
// that waits behind a slow record of its key is copied out of the batch
// franz-go decoded it in: otherwise it keeps the whole batch alive.
//
// With [Transactional], the outputs waiting for their transaction count
// in this half too, and are held to it on their own (see
// [Transactional]).
//
// The other half is franz-go's fetches: those polled and staged for
// dispatch and the next ones, fetched while the lanes work
// (kgo.MaxConcurrentFetches 4 of kgo.FetchMaxBytes n/32 each,
// kgo.FetchMaxPartitionBytes min(n/32, 1MiB)). The fetch limits count
// bytes as Kafka sends them, and a decoded record takes two to three
// times its wire size for ~100-byte records (franz-go's Record and header
// slices): hence n/32, not n/8. Left to franz-go's defaults (50MiB per
// broker), a backlog took ~89MiB of live heap.
//
// The guarantee: the consumer's live heap stays under 2n + 8MiB however
// large the backlog, at the default [MaxBuffered] (the bookkeeping kept
// for reuse is ~0.25KiB a record of it). Measured at n of 4-8MiB: a
// 200,000-record replay peaks at 1.2-2.2n, records of 10,000 headers
// queued behind a blocked key under n, a key blocked among 1,000 at
// 1.4-2.2n. It assumes record batches no larger than the fetch limits
// (Kafka returns a larger batch whole: each such batch fetched adds its
// size) and, for records made of thousands of headers of a few bytes
// (decoded, 10-20 times their wire size: franz-go's RecordHeader is 40
// bytes), one broker: each further broker's two fetches can add about n.
//
// With more than four brokers and quiet partitions, a fetch can wait up
// to kgo's FetchMaxWait for a slot; raise kgo.MaxConcurrentFetches
// through [KgoOpts] if that latency matters more than memory. Default
// [DefaultMaxBufferedBytes]; n must be at least 1MiB.
func MaxBufferedBytes(n int) Option {
	return optionFunc(func(c *config) {
		if n < 1<<20 {
			c.fail("MaxBufferedBytes: %d, want at least 1MiB", n)
			return
		}
		c.maxBufferedBytes = n
	})
}

// DefaultUnreachableAfter is the default of [UnreachableAfter].
const DefaultUnreachableAfter = 2 * time.Minute

// UnreachableAfter sets how long Run keeps trying to reach the cluster at
// start before it gives up and returns an error matching [ErrUnreachable]
// (wrapping the last failure: connection refused, authentication failed,
// a TLS error, ...). The first failure is logged at once. It applies only
// until a broker first answers: a consumer that was connected and then
// loses the cluster keeps trying, as kgo does, and logs kgo's warnings.
// Default [DefaultUnreachableAfter]; d must be positive.
func UnreachableAfter(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d <= 0 {
			c.fail("UnreachableAfter: %v, want > 0", d)
			return
		}
		c.unreachableAfter = d
	})
}

func (c *config) validate() error {
	errs := c.optErrs
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	errs = append(errs, c.set.Errs(true)...)
	if c.group == "" {
		bad("no group: use Group")
	}
	errs = append(errs, c.membership.validate()...)
	if len(c.topics) == 0 {
		bad("no topics: use Topics")
	}
	for _, t := range c.topics {
		if t == "" {
			bad("empty topic name")
		}
	}
	if len(c.handlers) == 0 && !c.handlersTried {
		bad("no handlers: register at least one with On")
	}
	if c.concurrency < 1 {
		bad("concurrency %d < 1", c.concurrency)
	}
	if c.maxBuffered < 1 {
		bad("max buffered %d < 1", c.maxBuffered)
	}
	if c.maxAttempts < 1 {
		bad("retry attempts %d < 1", c.maxAttempts)
	}
	if c.backoffMin <= 0 || c.backoffMax < c.backoffMin {
		bad("retry backoff %v..%v", c.backoffMin, c.backoffMax)
	}
	if c.drainTimeout <= 0 {
		bad("drain timeout %v must be positive", c.drainTimeout)
	}
	if c.commitEvery < 100*time.Millisecond {
		bad("commit interval %v is below 100ms", c.commitEvery)
	}
	if !c.policySet && c.dlqTopic != "" {
		c.policy = DeadLetter
	}
	switch {
	case c.policy == DeadLetter && c.dlqTopic == "":
		bad("failure policy dead-letter needs a topic: use DeadLetterTopic")
	case c.policy != Halt && c.policy != Skip && c.policy != DeadLetter:
		bad("unknown failure policy %v", c.policy)
	}
	for _, t := range c.topics {
		if t != "" && t == c.dlqTopic {
			bad("dead-letter topic %s is also consumed", t)
		}
	}
	if c.stuckAfter <= 0 {
		bad("stuck threshold %v must be positive", c.stuckAfter)
	}
	errs = append(errs, c.replay.errs(c.dlqTopic != "")...)
	errs = append(errs, c.txnErrs()...)
	seen := make(map[string]bool)
	for _, h := range c.handlers {
		if seen[h.name] {
			bad("two handlers for %s", h.name)
		}
		seen[h.name] = true
	}
	if len(errs) == 0 {
		return nil
	}
	for i, err := range errs {
		errs[i] = fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return errors.Join(errs...)
}
