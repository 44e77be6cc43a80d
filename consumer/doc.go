// Package consumer consumes typed, keyed events from Kafka as a member of a
// consumer group, in order per key and in parallel across keys.
//
// # Handlers
//
// Each event type gets a [Handler], registered with [On] and the type's
// schema codec. A record is dispatched by the full name of the schema it
// was written with, and its body is resolved from that writer schema into
// the handler's type, so events written by an older or newer producer
// decode as long as the schemas are compatible.
//
//	c, err := consumer.New(
//		consumer.Brokers("127.0.0.1:9092"),
//		consumer.Group("fulfilment"),
//		consumer.Topics("orders"),
//		consumer.Registry(reg),
//		consumer.Concurrency(64),
//		consumer.On(paidCodec, func(ctx context.Context, ev OrderPaid, m consumer.Meta) error {
//			return ship(ctx, ev)
//		}),
//	)
//
// # Middleware and batches
//
// [Use] wraps every handler with middleware that sees the record's [Meta]:
// a transaction, a tenant or a deadline in ctx, custom metrics. It runs
// once per attempt, after the event decoded, on the record's lane.
//
// There is no batch handler, on purpose. ordo's unit of order, retry,
// dead-lettering and commit is the record: a batch that fails in part
// would need an outcome per record, and one slow record would hold back
// the batch's other keys. Bulk writes keep every promise without one: each
// handler hands its event to a shared bulk writer and waits for the flush
// that carries it (by size or by time), returning that write's result for
// its own record. With [Concurrency] lanes, up to that many events of
// different keys fill one flush, while each key still waits for its own
// write before its next event.
//
// # Groups
//
// [GroupProtocol] picks the classic group protocol (the default) or
// KIP-848's ([ConsumerProtocol], Kafka 4.0 and newer), where the broker
// assigns partitions and a member joining or leaving does not stop the
// others. [SessionTimeout] bounds how long a crashed member's partitions
// sit unread: 10 s by default under the classic protocol; under KIP-848
// the consumer sets it as the group's config when given, before the
// member joins, which the brokers must allow
// (group.consumer.min.session.timeout.ms, 45 s by default).
// [InstanceID] makes a member static, so that an instance restarted within
// the session timeout gets its partitions back at once
// (InstanceID(os.Getenv("POD_NAME")) on Kubernetes).
//
// # Operating it
//
// [Consumer.Pause] and [Consumer.Resume] stop and restart topics or
// partitions while the others flow. [Consumer.Assignment] and
// [Consumer.Lag] show what the consumer holds and how far behind each
// partition is, from its own state. [Consumer.Ready] answers a readiness
// endpoint: in the group, no partition stuck, optionally caught up.
// [OnAssigned] and [OnRevoked] let a service load and save its own state
// per partition.
//
// # Order and parallelism
//
// Records of one key are handled one at a time, in offset order. Records
// of different keys run at the same time on up to [Concurrency] lanes,
// which may be many more than the topic has partitions. A key is never
// bound to a lane: a slow or retrying key holds up only its own later
// records. Among the keys that are ready, the one with the oldest record
// goes first, so work stays close to log order. A lane takes several ready
// keys at once when its handlers are fast (as many as it handles in about
// 100µs, at most its share of the ready keys): the consumer's bookkeeping
// is then paid once per batch, not per record, and a slow handler still
// gets a lane to itself. Keys claimed after a record that turns out slow
// are taken over by lanes that run out of work; the keys whose records
// its lane handled just before it (at most ~100µs of work) get their next
// records once it ends.
//
// # Commits
//
// A partition is committed only up to its lowest record that has not
// finished, however many later records have: a crash never loses a record
// that was fetched but not handled, and redelivers only records that
// finished after that point. Commits happen every [CommitInterval], when a
// partition is revoked (after its in-flight records finish, bounded by
// [DrainTimeout]) and on shutdown.
//
// With [Transactional], a commit is a Kafka transaction that also carries
// the events the handlers of the committed records published with [Emit]:
// read_committed readers see a record's outputs exactly when its offset is
// committed, and a crash or a rebalance makes none of them visible twice.
// The dead-letter quarantine's changes are written to its store before
// each transaction, as before a plain commit (see [Transactional]).
//
// # Failures
//
// Every failure is classified once, where it happens. Transient failures
// are retried and never skipped: a handler error (with exponential
// backoff, bounded by [Retry] attempts and [RetryFor] time: by default
// at least 5m15s and at most 6m after the first attempt; each attempt
// optionally bounded by [AttemptTimeout]; while a record waits, its key's
// later records wait too and other keys flow), and a registry outage (no
// answer, a timeout, a 5xx or 429; also a 401 or 403), retried for as long
// as it lasts. A schema ID the registry does not know is looked up again
// over [UnknownSchemaWindow] before it is final. Permanent failures go to
// the failure [Policy] at once: a handler error wrapped with [Permanent],
// retries exhausted, and poison (not a Confluent frame, an unknown schema
// ID, a writer schema that is not usable Avro, no handler for the type, a
// body that does not decode, a tombstone nobody accepts with
// [Tombstones]). Each is reported as a [*RecordError], with the record and
// its class, to the [ErrorHook].
//
// With a [DeadLetterTopic] the policy is [DeadLetter]: the record, its key,
// value and headers, goes to the dead-letter topic with Spring Kafka's
// dead-letter headers and ordo's reason (see package
// [github.com/ordo-go/ordo/consumer/dlq]), and its offset is committed
// only once that write is acknowledged (a record larger than the topic's
// max.message.bytes is written cut, with reason "too-large"); a topic the
// cluster does not have fails Run at its start with [ErrUnknownTopic]
// (unless [AllowMissingDeadLetterTopic]), and a topic that
// cannot be written halts the consumer after [DeadLetterPatience] with a
// [*DeadLetterError], skipping nothing. Later records of the dead-lettered key in its
// partition follow it into the topic (key quarantine) until the key is
// redriven with [github.com/ordo-go/ordo/consumer/dlq.Client.Redrive];
// [ContinueAfterDeadLetter] handles them instead, at the price of that
// key's order. The quarantined keys are kept in a compacted topic the
// group owns ([QuarantineTopic], "<group>.ordo-quarantine" by default),
// written before each commit, so restarts and rebalances keep them; up to
// [QuarantineMaxKeys] keys per partition (default 1,000,000), each taking
// under 66 bytes of memory once restored (TestQuarantine100kKeysSurviveRestart
// measures it at 100,000 keys of one partition). A new key beyond the bound
// halts the consumer ([ErrQuarantineFull]) rather than break its order.
// An expired record ([MaxAge] with [ExpireDeadLetter]) is dead-lettered
// with reason "expired" but quarantines nothing. Without a dead-letter topic the policy is [Halt] (Run
// returns the error; nothing is committed past the record), or [Skip]
// (counted, logged, committed past).
//
// # Breaker
//
// One bad record and a world that is down look alike to a per-record
// retry budget: when the database behind every handler is down, every
// key spends its budget on the same outage and, under a dead-letter
// policy, the topic drains into the dead-letter topic. The breaker (on
// by default; [Breaker] tunes it, [NoBreaker] turns it off) tells the
// two apart: when at least 5 distinct keys fail transiently alike (the
// same error type and message shape; registry outages count too) within
// 30s and such failures are at least 80% of that window's handler
// attempts, it opens. While open, no record is claimed but one probe,
// after 1s, then 2s, 4s… at most 30s apart, each from another key than
// the last few probed; a held failure is not charged to its record's
// attempts nor to its [RetryFor] time, and nothing is dead-lettered for
// it. The first probe that succeeds closes it and every key resumes, in
// order. While it is open the consumed topics' fetch is paused too, and
// what kgo had buffered of them dropped (fetched again after): memory
// stays at what was buffered when it opened, below the buffer's cap
// ([MaxBuffered], [MaxBufferedBytes]) however long the outage, and the
// lag grows at the broker (TestBreakerPausesFetch). The probes use
// records already buffered: those whose failures opened it. Permanent errors and poison are not the
// breaker's: they go to the failure policy at once, open or closed (a
// probe that meets one is not counted, and the next probe is due at
// once). One poison key among healthy traffic never opens it, nor does
// one key failing transiently again and again.
//
// An operator sees it: one WARN line when it opens (the reason, the
// error's class and a sample, the keys, the next probe), failed probes
// at most once a minute at INFO, one INFO line when it closes (how long
// it was open); [Consumer.Ready] returns [ErrNotReady] with "breaker open
// for 12s: …; next probe in 4s"; [Consumer.Lag] flags every partition
// ([PartitionLag].HeldByBreaker); partitions stuck behind it (see
// [StuckAfter]) are counted in one WARN line, not one each; the metrics
// ordo.breaker.state, ordo.breaker.opens and ordo.breaker.open.time; and
// the probe record's span has an "ordo.breaker.probe" event with its
// result.
//
// # Replay after downtime
//
// A partition whose backlog at assignment is over [CatchUpThreshold]
// (records or age) is in catch-up until it has worked the backlog off. The
// catch-up can be bounded: [RateLimit] caps records per second at dispatch
// (a token bucket the lanes wait on, never a sleep in a handler), during
// catch-up only or always; [PartitionRateLimit] caps each partition on its
// own, for a downstream sharded like the topic (a partition over its cap
// waits, its lanes take other partitions' keys). Catch-up never starves
// live traffic: a capped partition holds at most its share of the buffer
// (the buffer split over the assigned partitions) and is paused at the
// fetch beyond it while the others' records flow, and partitions not in
// catch-up are served first, so under [RateLimit] their events take
// tokens before any backlog's. [SlowStart] opens the lanes one by one
// over a warm-up; [MaxAge] expires records older than a window (skipped, or
// dead-lettered with reason "expired"); [ReplayFloor] starts a partition
// no earlier than a point in time. Buffered records stay under
// [MaxBuffered] and [MaxBufferedBytes], however large the backlog, and
// the consumer's live heap under twice MaxBufferedBytes plus 8MiB (its
// documentation says what that assumes). Every
// backlog record is accounted for as handled, expired, dead-lettered,
// skipped or passed over by the floor: [Consumer.ReplayStats], one log line
// at the start and at the end of a catch-up, progress lines with an ETA,
// and the ordo.replay.* metrics.
//
// # Lifecycle
//
// [Consumer.Run] blocks while the consumer works. [Consumer.Shutdown] stops
// fetching, lets in-flight records finish, commits and leaves the group;
// [Consumer.Close] does the same without waiting for in-flight records.
// Both are bounded (Shutdown by its ctx, Close's commit and leave by 10s)
// even when a broker's connection neither answers nor fails.
//
// # Order checks
//
// Records written by ordo's producer carry the producer's ID and a per-key
// sequence. The consumer checks them per partition and counts gaps and
// regressions in [Stats].OrderViolations.
//
// They also carry the partition count the producer placed them under
// (ordo-partitions). A record stamped with a count this consumer has not
// seen for its topic means the topic's partition count changed under an
// ordered stream: keys moved to other partitions, and a key's records
// from before and after the change may be handled out of order. The
// consumer logs a warning naming the topic, the old and new count and the
// first record, and counts it ([Stats].PartitionCountChanges). A record
// whose key does not hash to its partition under its stamped count was
// placed by another partitioner ([Stats].PlacementViolations).
//
// Such a record also makes the consumer refresh the topic's metadata at
// once; otherwise partitions added to a topic are found at the next
// refresh, every [MetadataMaxAge] (5 s by default), and the group reads
// them after a rebalance: 8 s after the first record was written to
// them, measured on the embedded cluster (TestGrownTopicDiscovery). A
// partition added after the group started is read from its start, also
// under [StartAtEnd] and across restarts: nothing written to it before
// the consumer noticed it is skipped.
//
// # Telemetry
//
// Spans: "process <topic>" (kind consumer) per record, from the first time
// a lane takes it to its outcome (attribute ordo.outcome: handled,
// skipped, failed, released, abandoned), a child of the producer's span
// carried in the record's headers; and "handle <type>" per handler attempt
// under it. Log lines carry trace_id and span_id.
//
// A line logged once per record ("handler failed, will retry", "record
// dead-lettered") is limited per condition, its error class or reason: 10
// lines every 10 s, and the next line's more_like_it counts the ones
// dropped. An outage or a catch-up repeats such a line for every record;
// the metrics below count every occurrence.
//
// A record's key appears in its log lines, its [RecordError]'s text and
// its span (messaging.kafka.message.key) cut to its first 128 bytes and
// the length ("…(1048576 bytes)"), or not at all under [RedactKeys]: a
// record with a 1MiB key costs a few KiB of log, not megabytes.
//
// Metrics (OpenTelemetry, from the [WithMeterProvider] provider). Every
// one carries messaging.system ("kafka"), messaging.destination.name,
// messaging.destination.partition.id and messaging.consumer.group.name:
//
//	messaging.client.consumed.messages  {message}    counter    records fetched; messaging.operation.name "poll", messaging.operation.type "receive"
//	messaging.process.duration          s            histogram  per record, like its process span: first attempt to outcome, retries and backoff included (not per attempt); messaging.operation.name "process", error.type when it failed
//	ordo.retry.attempts                 {attempt}    counter    failed handler attempts that were retried; error.type
//	ordo.records.failed                 {record}     counter    records that could not be handled; error.type (the stage, or the handler's error class)
//	ordo.records.skipped                {record}     counter    failed records passed over under Skip; error.type
//	ordo.deadletter.records             {record}     counter    records written to the dead-letter topic; ordo.reason, ordo.stage
//	ordo.keys.parked                    {key}        gauge      keys whose head record waits to be tried again
//	ordo.keys.quarantined               {key}        gauge      keys quarantined behind a dead letter
//	ordo.keys.quarantine.full           {key}        counter    dead letters whose key found its partition's quarantine full (the consumer halted)
//	ordo.order.violations               {record}     counter    per-key sequence gaps and regressions
//	ordo.consumer.handover.running      {record}     counter    handlers still running when their partition was handed over (they ignored ctx)
//	ordo.partition.count.changes        {change}     counter    a new stamped partition count seen for the topic (see Order checks)
//	ordo.placement.violations           {record}     counter    stamped records not in the partition their key hashes to
//	ordo.consumer.lag                   {record}     gauge      high watermark minus the commit point
//	ordo.consumer.lag.time              s            gauge      age of the oldest record not yet finished
//	ordo.consumer.stuck                 {partition}  gauge      1 while the partition is reported stuck (see [StuckAfter])
//	ordo.replay.skipped                 {record}     counter    records of a replay not handled; ordo.replay.reason: expired (age window) or floor (before the replay floor)
//	ordo.replay.backlog                 {record}     gauge      lag of a partition in catch-up
//	ordo.replay.age                     s            gauge      age of the oldest unfinished record of a partition in catch-up
//	ordo.replay.rate                    {record}/s   gauge      records of catch-up backlogs accounted per second, over the last second
//	ordo.replay.active                  {partition}  gauge      partitions in catch-up
//	ordo.breaker.state                  1            gauge      the breaker: 0 closed, 1 open, 2 half-open (a probe running); consumer-wide, no partition attributes
//	ordo.breaker.opens                  {open}       counter    times the breaker opened; consumer-wide
//	ordo.breaker.open.time              s            counter    time the breaker spent open since the consumer was made; consumer-wide
//
// error.type comes from the classifier ordo's producer uses too: a
// [*RecordError] is labelled by its stage ("unframe", "schema",
// "dispatch", "decode"), a handler's failure by its error's class
// ("panic" for a [*PanicError], "timeout", "canceled", or the error's Go
// type).
package consumer
