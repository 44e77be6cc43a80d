// Package quarantine is the consumer's durable, bounded set of quarantined
// keys of one partition: for each key whose record was dead-lettered, the
// offset that started its quarantine and the last offset dead-lettered
// behind it (see consumer/dlq's doc for the quarantine-lift contract).
//
// # Durability
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
// [ErrFull]; the consumer counts it, warns, and stops for that key (it must
// not lose order silently).
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
