// Package dlq is ordo's dead-letter format and the tools around it: [Build]
// makes the dead-letter record for a record that cannot be handled, [Parse]
// reads one back, and a [Client] lists, shows and redrives a dead-letter
// topic. The consumer dead-letters through Build; examples/dlq is the
// operator's command line over the Client.
//
// # Dead-letter records
//
// A dead letter keeps the original record's key (so a keyed producer puts
// it on the key's partition of the dead-letter topic, by murmur2, and one
// key's dead letters stay in one partition, in order), its value, and its
// headers, and adds the headers below. Names and encodings of the
// kafka_dlt-* headers are Spring Kafka's (KafkaHeaders.DLT_* as its
// DeadLetterPublishingRecoverer writes them); integers are big-endian, as
// Java's ByteBuffer writes them; text is UTF-8.
//
//	kafka_dlt-original-topic           text
//	kafka_dlt-original-partition       int32, 4 bytes
//	kafka_dlt-original-offset          int64, 8 bytes
//	kafka_dlt-original-timestamp       int64 Unix ms, 8 bytes (-1: none)
//	kafka_dlt-original-timestamp-type  "CreateTime", "LogAppendTime" or "NoTimestampType"
//	kafka_dlt-original-consumer-group  text (omitted without a group)
//	kafka_dlt-exception-fqcn           Go type of the failure, e.g. "*consumer.HandlerError"
//	kafka_dlt-exception-cause-fqcn     Go type of its root cause (omitted when the same)
//	kafka_dlt-exception-message        error text, at most MaxMessageBytes, cut on a UTF-8 boundary
//	ordo-reason                        a [Reason]
//	ordo-attempts                      handler attempts, decimal
//	ordo-stage                         a [Stage] (omitted when unknown)
//	ordo-quarantine-offset             reason "quarantined" only: the original
//	                                   offset whose dead letter started the quarantine, decimal
//
// # Dead letters other tools wrote
//
// A dead-letter topic may also be fed by Spring Kafka (the same kafka_dlt-*
// headers, without ordo's), Kafka Streams (__streams.errors.*), Kafka
// Connect (__connect.errors.*) or a share group's broker-side dead-letter
// queue (__dlq.errors.*). [Parse] reads each family into the same [Info]
// fields (original topic, partition and offset, exception class and
// message; [Info.Family] says which it was), so List counts them and
// Redrive republishes them like ordo's own. Their values are decimal
// text, not Spring's binary; a Streams or Connect dead letter without an
// input record (original topic empty, partition and offset -1) cannot be
// redriven and counts as malformed.
//
// # Dead letters too large for their topic
//
// A record the source topic accepted may not fit the dead-letter topic
// (its max.message.bytes is smaller, or the dead-letter headers push the
// record over). The consumer sizes its writes from the topic's
// max.message.bytes and [Fit] cuts a dead letter that does not fit: first
// the record's own headers beyond ordo's, Spring's and the trace's, then
// the value (written empty), and only when the key alone is too large the
// key's tail (the dead letter is still placed on the original key's
// partition, beside the key's other dead letters). Such a dead letter has
// reason [TooLarge] and says what it left out:
//
//	ordo-original-reason               the reason the record failed for
//	ordo-original-size                 the original value's length, decimal
//	ordo-dropped-headers               original headers left out, decimal (omitted when none)
//	ordo-original-key-size             the key's length, when the key was cut, decimal
//	ordo-original-key-sha256           hex SHA-256 of the key, when the key was cut
//
// Its kafka_dlt-original-* coordinates name the record to fetch from the
// source topic (while its retention keeps it).
//
// The "fqcn" of a Go error is the type of the outermost error that is not
// a plain fmt.Errorf or errors.Join wrapper (those say nothing), and the
// cause is the innermost error of the chain (a join follows its first
// branch). ordo writes no stack trace; Spring's kafka_dlt-exception-stacktrace
// is removed like every other kafka_dlt-* header.
//
// Headers never grow. When a record that already carries dead-letter
// headers (it was dead-lettered, redriven and failed again) is
// dead-lettered, every kafka_dlt-* header (and every header of the other
// families above), ordo-reason, ordo-attempts,
// ordo-stage, ordo-quarantine-offset, ordo-redrive-chain and
// ordo-redrive-lift is replaced, not appended. ordo-redrives stays: it is
// the loop guard's count.
//
// # Quarantine chains
//
// Once a record of key K in partition P is dead-lettered, the consumer
// dead-letters K's later records of P behind it with reason
// [Quarantined] and ordo-quarantine-offset S, the original offset of the
// record that started it. The dead letters of (topic, P, K) that share S
// form a chain: S is [Info.ChainStart] (the quarantine offset of a
// quarantined record, else the record's own offset). In the dead-letter
// topic a chain's records are in original order, and an earlier chain of
// K ends before a later one starts.
//
// # Redrive
//
// [Client.Redrive] republishes dead letters to their original topic with
// the original key, value and headers (dead-letter headers removed, see
// [Restore]) and ordo-redrives set to one more than the dead letter had.
// It decides per chain, so a key's events stay in order: the filter selects
// or passes over a whole chain, judged by the first of its records the run
// reads; a record whose ordo-redrives has reached the loop guard
// (RedriveConfig.MaxRedrives, default [DefaultMaxRedrives]) is not
// republished, and neither is any later record of its chain (reported as
// held), so a chain is only ever republished as a prefix. Records without
// a key are independent.
//
// A dead letter that cannot be redriven stops its key the same way: one
// whose headers do not parse (its chain cannot be known), one with reason
// [TooLarge] (it lacks part of the record), one whose reason says the
// consumer could not read the record ([Reason.Unreadable]: republished
// unchanged it fails again, and its chain with it; RedriveConfig's
// IncludeUnreadable republishes it once the cause is fixed), one at the
// loop guard. Every
// later dead letter of its key in that original partition (in the same
// dead-letter partition, when the malformed headers do not say the
// original partition) is held, no record before it carries the lift, and
// so the key's quarantine stays: the key is never handled out of order.
// The report counts such keys (RedriveReport.StuckChains), names the dead
// letters that stopped them (RedriveReport.Stuck) and logs each; an
// operator deals with that dead letter (republishes the original from the
// source topic, or decides to drop it) and lifts the quarantine by
// redriving the rest.
//
// Every republished keyed record also carries
//
//	ordo-redrive-chain  S, the chain's start offset, decimal
//
// and the last republished record of a chain that was republished to its
// end (none held) carries
//
//	ordo-redrive-lift   L, the original offset of that record (the
//	                    highest of the chain the run republished), decimal
//
// # The quarantine-lift contract (what the consumer does)
//
// The consumer keeps, per partition, the quarantined keys: K → (start S,
// last: the highest offset it dead-lettered under S). For a record of key
// K in that partition:
//
//  1. K not quarantined: handle the record as usual, redriven or not; a
//     lift header is ignored.
//  2. K quarantined under S, and the record has no ordo-redrive-chain or a
//     chain other than S: dead-letter it as [Quarantined] behind S and set
//     last to its offset.
//  3. K quarantined under S, and ordo-redrive-chain is S: handle it (the
//     operator asked for it; it is the chain's next record in order).
//  4. If a record handled by rule 3 is dead-lettered again, a new chain
//     starts at it: K's quarantine becomes (its own offset, its own
//     offset), and the chain's later redriven records fall under rule 2,
//     behind it.
//  5. If a record handled by rule 3 finishes and carries
//     ordo-redrive-lift L: when last <= L every record quarantined under S
//     has been redriven, so the quarantine is lifted and K's later records
//     are handled; when last > L, records of K were quarantined after the
//     redrive read the chain, and K stays quarantined until they are
//     redriven too.
//
// The lift is therefore applied in order, in the partition, by the record
// that completes the chain, and is idempotent: a duplicate redrive finds K
// not quarantined (rule 1) or under another chain (rule 2). A redrive
// assumes the original topic's partition count is unchanged, so that the
// key lands where its quarantine is.
//
// # Progress and resumption
//
// Redrive records its progress as a consumer group's committed offsets on
// the dead-letter topic (it commits as a group without members, through
// the admin API, so run one redrive per group at a time). It commits a
// batch of dead letters only after the records it republished for them
// are acknowledged, so an interrupted run resumes from the last commit and
// a finished run, repeated, republishes nothing (at worst the batch in
// flight when it was interrupted is republished twice; the consumer sees a
// duplicate, never a gap). Writes are idempotent with acks=all, in
// dead-letter order, and paced by RedriveConfig.Rate (a token bucket with a
// burst of one). If the original topic cannot be written, Redrive returns
// the error and commits nothing for that batch.
package dlq
