// Package quarantine is the consumer's durable, bounded set of quarantined
// keys of one partition: for each key whose record was dead-lettered, the
// offset that started its quarantine and the last offset dead-lettered
// behind it (see consumer/dlq's doc for the quarantine-lift contract).
//
// # Durability
//
// A set lives in one of two places: in the offset commit's metadata
// (this section and the next), or, store-backed, in a compacted topic the
// group owns (see "Store" below), which lifts the small cap.
//
// The set is committed with the partition's offset, in the offset
// commit's metadata (Kafka's OffsetCommit keeps a string per partition),
// so it survives a restart and moves with the partition in a rebalance:
// whoever commits an offset commits the set that goes with it, and the
// next owner reads both in one OffsetFetch. With franz-go, the consumer
// sets the metadata with kgo.PreCommitFnContext on its explicit commits,
// and reads it back with kadm's FetchOffsets when partitions are assigned.
// A commit without it replaces the set by franz-go's own metadata (the
// member ID), which [Decode] reports as [ErrNoSet]: every commit of a
// partition must carry its set, including commits whose offset did not
// move (franz-go's CommitUncommittedOffsets skips those; use
// CommitOffsetsSync with the offsets).
//
// # Bounds
//
// Brokers refuse metadata longer than offset.metadata.max.bytes (4096 by
// default). The set's encoding is at most MaxBytes (default
// [DefaultMaxBytes], 3 KiB, leaving room for a smaller broker setting and
// a version change): 3 bytes of version prefix and 32 per key, so 95 keys
// per partition at the default. A set at its cap refuses a new key with
// [ErrFull]. The consumer no longer keeps its sets here: it reads a set
// an older consumer left in the metadata once, at assignment, merges it
// into the store, and commits empty metadata. A store-backed set (next
// section) has no such cap: its bound is [StoreConfig.MaxKeys].
//
// # Store
//
// [Store] keeps the sets in a compacted topic the group owns, by default
// [TopicFor](group), "<group>.ordo-quarantine", created by [OpenStore]
// with cleanup.policy=compact ([DefaultStorePartitions] partitions, or
// [StoreConfig.Partitions]; an existing topic that is not compacted is
// [ErrStoreTopic]). A key's entry is one record, keyed
// "<topic>/<partition>/<key hash>", in the store partition of its source
// partition (the topic's hash plus the partition, mod the store's count:
// one topic's partitions each get their own store partition when the
// store has as many), so a new owner reads one store partition, not the
// whole store. Only changes are written, at most once per key per commit;
// a lifted key's record is replaced by a tombstone, so compaction keeps
// the topic about as large as the keys quarantined now.
//
// Why a compacted topic, against the alternatives:
//   - Commit metadata (the mode above) is atomic with the offset, but
//     brokers cap it at 4 KiB, raising offset.metadata.max.bytes is a
//     broker-wide setting, and every commit rewrites the whole set:
//     100,000 keys are 3.2 MB of metadata per partition per commit.
//   - Metadata for small sets and a topic beyond it would be two formats
//     and two sets of failure modes for one promise; the store costs
//     little when a set is empty (two offset lookups at assignment, no
//     read, no write).
//   - Reading the dead-letter topic back at assignment finds starts and
//     follows but not lifts (those happen when redriven records are
//     handled in the source topic), costs a scan of the whole dead-letter
//     history (it is not compacted, and is shared with other groups and
//     topics), and loses quarantines when retention deletes old dead
//     letters.
//
// # Store: write before commit, read as of the commit
//
// The committer calls [Store.Flush] with the offsets it is about to
// commit, commits only if it returns nil (every record acknowledged,
// acks=all), then calls [Store.Committed]. So the store is never behind
// a committed offset. It may be ahead: a crash (or a failed commit)
// between Flush and the commit leaves records for a commit that never
// happened. Each record therefore holds two states of its key: as of the
// commit point it was written for, and as of the offset committed when it
// was written; [Store.LoadAll] reads each key as of the group's committed
// offset, and the next owner, resuming from that offset, reads again the
// records that changed the key since:
//   - A key quarantined at the committed offset is loaded as it was then:
//     a lift or a restart written ahead is undone, and done again when the
//     record that did it is read again. Never the reverse, which would
//     let the key's replayed records be handled ahead of its chain.
//   - A key free at the committed offset but quarantined since stays
//     quarantined: its dead letter was written, so its later records must
//     stay behind it even if its record, read again, is handled this time.
//     At worst the replayed records of the key are dead-lettered twice.
//
// No key is handled out of order; the cost of a crash is duplicate dead
// letters (and a record handled again, as at-least-once allows).
// TestStoreAheadOfCommit and TestJournalMatchesCommits hold this. The new
// owner's first Flush rewrites the records left ahead as of its own
// committed offset.
//
// # Store: bounds and memory
//
// A store-backed set holds up to [StoreConfig.MaxKeys] keys
// ([DefaultMaxKeys], 1,000,000); a new key beyond it is [ErrFull] (the
// consumer must then pause or stop the partition, never handle the key's
// later records). Loading never drops keys, even past a smaller MaxKeys.
// A loaded set takes under 66 bytes of live heap per key at 100,000 keys
// (TestStore100kKeysSurviveRestart measures 35 to 47: the map's 24-byte
// entries and its slack), so about 6.6 MB for 100,000 keys; a key changed
// since the last commit takes under 200 bytes until the commit
// (TestPendingMemoryPerKey: about 131). Loading 100,000 keys takes well
// under a second on the in-process cluster (the test logs it and fails
// past 20 s).
//
// # Store: the consumer's seam
//
//   - At assignment: sets := store.LoadAll(ctx, added), in place of
//     reading commit metadata; the sets are used as before (Get, Start,
//     Follow, Lift). Once, for the upgrade: a partition whose committed
//     metadata still holds a set ([Decode]) has it merged ([Set.Merge]).
//   - At a dead letter and at a lift: unchanged; the set records its
//     changes for the store.
//   - Before each commit: store.Flush(ctx, points) with the offsets about
//     to be committed; commit only if it returned nil; after a commit
//     that succeeded, store.Committed(points). Flushes and commits of a
//     partition must not overlap, and never commit past the offsets
//     flushed.
//   - At revocation, after the last commit: store.Release(tp).
//   - At Close, after the final commit: store.Close().
//   - [Set.Start] returning ErrFull: pause or stop the partition.
//
// # Keys
//
// Keys are stored as their 64-bit FNV-1a hash, not their bytes: a key of
// any length costs the same, and the set never holds user data. Two keys
// of one partition with the same hash would share a quarantine (the
// chance, for n quarantined keys, is about n²/2⁶⁵): order is kept, a key
// may wait longer than it needed to.
//
// # Encoding (version 1)
//
// "q1:" followed by the unpadded URL-safe base64 of the entries, sorted by
// hash, each 24 bytes: hash (uint64), start offset (int64), last offset
// (int64), all big-endian. The empty set encodes as "" (what a commit
// without metadata leaves).
package quarantine
